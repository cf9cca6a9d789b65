//! Suppression: the rules on small tables, and an attacker who holds every
//! published table of a territory (every period, every breakdown, the
//! totals) and tries to recompute each suppressed cell by subtraction (exact
//! linear algebra) and by bounds (a published cell rests on at least one
//! person, so a difference can pin a cell), on random additive data: the
//! worst case, where every total is exactly the sum of its parts.

use std::collections::BTreeMap;

use super::*;

fn p(s: &str) -> Period {
    Period::parse(s).unwrap()
}

fn cell(period: &str, breakdown: Option<&str>, n: i64) -> Cell {
    Cell {
        period: p(period),
        breakdown: breakdown.map(str::to_string),
        n,
        suppressed: false,
    }
}

fn hidden(cells: &[Cell]) -> Vec<String> {
    cells
        .iter()
        .filter(|c| c.suppressed)
        .map(|c| match &c.breakdown {
            Some(b) => format!("{} {b}", c.period),
            None => c.period.to_string(),
        })
        .collect()
}

/// What the attacker sees: each published cell's period, breakdown, and
/// `n` (`None` when suppressed).
pub type Seen = (Period, Option<String>, Option<i64>);

/// The suppressed cells (indices into `seen`) the attacker recomputes
/// exactly. It rebuilds the sums from the cells' labels alone (a year is
/// its quarters, a quarter its months, a total its breakdown), and assumes
/// they are exact.
pub fn attack(seen: &[Seen]) -> Vec<usize> {
    let index: BTreeMap<(Period, Option<String>), usize> = seen
        .iter()
        .enumerate()
        .map(|(i, (p, b, _))| ((*p, b.clone()), i))
        .collect();
    // Sums: (total, parts).
    let mut sums: Vec<(usize, Vec<usize>)> = Vec::new();
    for (&(period, ref breakdown), &total) in &index {
        let in_time = |q: &Period, b: &Option<String>| q.parent() == Some(period) && b == breakdown;
        let in_total =
            |q: &Period, b: &Option<String>| breakdown.is_none() && *q == period && b.is_some();
        for rule in [
            &in_time as &dyn Fn(&Period, &Option<String>) -> bool,
            &in_total,
        ] {
            let parts: Vec<usize> = index
                .iter()
                .filter(|((q, b), _)| rule(q, b))
                .map(|(_, &i)| i)
                .collect();
            if !parts.is_empty() {
                sums.push((total, parts));
            }
        }
    }
    let unknown: Vec<usize> = (0..seen.len()).filter(|&i| seen[i].2.is_none()).collect();
    let mut found: Vec<usize> = Vec::new();
    // 1. Subtraction: Gaussian elimination over the unknowns (independent
    //    of the module's own audit: fractions, exact).
    let col: BTreeMap<usize, usize> = unknown.iter().enumerate().map(|(j, &i)| (i, j)).collect();
    let mut rows: Vec<Vec<Frac>> = sums
        .iter()
        .map(|(t, parts)| {
            let mut row = vec![(0, 1); unknown.len()];
            for (m, s) in std::iter::once((*t, 1)).chain(parts.iter().map(|&q| (q, -1))) {
                if let Some(&j) = col.get(&m) {
                    row[j].0 += s;
                }
            }
            row
        })
        .collect();
    let mut r0 = 0;
    for c in 0..unknown.len() {
        let Some(r) = (r0..rows.len()).find(|&r| rows[r][c].0 != 0) else {
            continue;
        };
        rows.swap(r0, r);
        let pivot = rows[r0][c];
        for r in 0..rows.len() {
            if r != r0 && rows[r][c].0 != 0 {
                // row_r -= (row_r[c] / pivot) * row_r0, in fractions.
                let f = div(rows[r][c], pivot);
                let base = rows[r0].clone();
                for (v, b) in rows[r].iter_mut().zip(base) {
                    *v = sub_frac(*v, mul(f, b));
                }
            }
        }
        r0 += 1;
    }
    for row in &rows {
        let nz: Vec<usize> = (0..unknown.len()).filter(|&k| row[k].0 != 0).collect();
        if nz.len() == 1 {
            found.push(unknown[nz[0]]);
        }
    }
    // 2. Bounds: every published cell rests on at least one person.
    let mut lo: Vec<i64> = seen.iter().map(|c| c.2.unwrap_or(1)).collect();
    const INF: i64 = 1 << 40;
    let mut hi: Vec<i64> = seen.iter().map(|c| c.2.unwrap_or(INF)).collect();
    for _ in 0..1000 {
        let mut changed = false;
        for (t, parts) in &sums {
            let slo: i64 = parts.iter().map(|&q| lo[q]).sum();
            let shi: i64 = parts
                .iter()
                .map(|&q| hi[q])
                .fold(0i64, |a, h| a.saturating_add(h))
                .min(INF);
            if slo > lo[*t] {
                lo[*t] = slo;
                changed = true;
            }
            if shi < hi[*t] {
                hi[*t] = shi;
                changed = true;
            }
            for &q in parts {
                let others_lo = slo - lo[q];
                // Nothing is learnt from a sum with another unbounded part.
                let others_hi = if shi >= INF { INF } else { shi - hi[q] };
                let new_hi = if hi[*t] >= INF {
                    INF
                } else {
                    hi[*t] - others_lo
                };
                let new_lo = lo[*t] - others_hi;
                if new_hi < hi[q] {
                    hi[q] = new_hi;
                    changed = true;
                }
                if new_lo > lo[q] {
                    lo[q] = new_lo;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    for &u in &unknown {
        if lo[u] == hi[u] {
            found.push(u);
        }
    }
    found.sort_unstable();
    found.dedup();
    found
}

/// A fraction (numerator, denominator), reduced.
type Frac = (i128, i128);

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 {
        a.abs().max(1)
    } else {
        gcd(b, a % b)
    }
}

fn norm((a, b): Frac) -> Frac {
    let g = gcd(a, b);
    let s = if b < 0 { -1 } else { 1 };
    (s * a / g, s * b / g)
}

fn mul(x: Frac, y: Frac) -> Frac {
    norm((x.0 * y.0, x.1 * y.1))
}

fn div(x: Frac, y: Frac) -> Frac {
    norm((x.0 * y.1, x.1 * y.0))
}

fn sub_frac(x: Frac, y: Frac) -> Frac {
    norm((x.0 * y.1 - y.0 * x.1, x.1 * y.1))
}

fn seen(cells: &[Cell]) -> Vec<Seen> {
    cells
        .iter()
        .map(|c| {
            (
                c.period,
                c.breakdown.clone(),
                (!c.suppressed).then_some(c.n),
            )
        })
        .collect()
}

#[test]
fn a_lone_small_month_takes_its_smallest_sibling_with_it() {
    let mut cells = vec![
        cell("2024", None, 80),
        cell("2024-Q1", None, 80),
        cell("2024-01", None, 10),
        cell("2024-02", None, 30),
        cell("2024-03", None, 40),
    ];
    suppress(&mut cells, 11);
    assert_eq!(hidden(&cells), ["2024-01", "2024-02"]);
    assert!(attack(&seen(&cells)).is_empty());
}

#[test]
fn suppressed_siblings_must_together_rest_on_min_cell_people() {
    // 3 + 4 = 7 could be recovered as Q1 − March: March goes too.
    let mut cells = vec![
        cell("2024-Q1", None, 57),
        cell("2024-01", None, 3),
        cell("2024-02", None, 4),
        cell("2024-03", None, 50),
    ];
    suppress(&mut cells, 11);
    assert_eq!(hidden(&cells), ["2024-01", "2024-02", "2024-03"]);
}

#[test]
fn a_quarter_that_is_one_month_is_suppressed_with_it() {
    let mut cells = vec![
        cell("2024", None, 50),
        cell("2024-Q1", None, 10),
        cell("2024-Q2", None, 40),
        cell("2024-01", None, 10),
        cell("2024-05", None, 25),
        cell("2024-06", None, 15),
    ];
    suppress(&mut cells, 11);
    // Q1 (10) and January; Q2 (40) as Q1's sibling under the year, and then
    // a month of Q2 (15, the smaller) so that Q2 is not their difference.
    assert_eq!(hidden(&cells), ["2024-Q1", "2024-Q2", "2024-01", "2024-06"]);
    assert!(attack(&seen(&cells)).is_empty(), "{cells:?}");
}

#[test]
fn a_small_network_is_not_the_total_minus_the_others() {
    let mut cells = vec![
        cell("2024-03", None, 70),
        cell("2024-03", Some("cocagne"), 5),
        cell("2024-03", Some("ugess"), 25),
        cell("2024-03", Some("vrac"), 40),
    ];
    suppress(&mut cells, 11);
    assert_eq!(hidden(&cells), ["2024-03 cocagne", "2024-03 ugess"]);
    assert!(attack(&seen(&cells)).is_empty());
}

#[test]
fn the_attacker_recomputes_what_primary_suppression_alone_leaves() {
    // The attacker is no straw man: with the primary rule alone, it finds
    // the hidden month (subtraction) and a pinned pair (bounds: 1 + 1 = 2).
    let mut cells = vec![
        cell("2024-Q1", None, 80),
        cell("2024-01", None, 10),
        cell("2024-02", None, 30),
        cell("2024-03", None, 40),
    ];
    for c in cells.iter_mut() {
        c.suppressed = c.n < 11;
    }
    assert_eq!(attack(&seen(&cells)), [1]);
    let mut pair = vec![
        cell("2024-Q1", None, 32),
        cell("2024-01", None, 1),
        cell("2024-02", None, 1),
        cell("2024-03", None, 30),
    ];
    pair[1].suppressed = true;
    pair[2].suppressed = true;
    assert_eq!(attack(&seen(&pair)), [1, 2]);
}

/// A small deterministic generator (xorshift), so that a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Two years of one territory: months of three networks (some absent, many
/// small), quarters, years and totals as exact sums.
fn random_territory(rng: &mut Rng) -> Vec<Cell> {
    let networks = ["cocagne", "ugess", "vrac"];
    let mut months: BTreeMap<(Period, Option<&str>), i64> = BTreeMap::new();
    for year in [2024, 2025] {
        for m in 1..=12u8 {
            for net in networks {
                let n = match rng.below(10) {
                    0 => continue,
                    1..=4 => 1 + rng.below(10) as i64,
                    _ => 11 + rng.below(50) as i64,
                };
                months.insert((Period::Month(year, m), Some(net)), n);
            }
        }
    }
    let mut all: BTreeMap<(Period, Option<&str>), i64> = BTreeMap::new();
    for (&(period, net), &n) in &months {
        let mut q = Some(period);
        while let Some(pp) = q {
            *all.entry((pp, net)).or_default() += n;
            *all.entry((pp, None)).or_default() += n;
            q = pp.parent();
        }
    }
    all.into_iter()
        .map(|((period, net), n)| Cell {
            period,
            breakdown: net.map(str::to_string),
            n,
            suppressed: false,
        })
        .collect()
}

/// Rounds of the random test (`VIVRES_SUPPRESSION_ROUNDS` for a longer run).
fn rounds() -> usize {
    std::env::var("VIVRES_SUPPRESSION_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(150)
}

#[test]
fn an_attacker_with_every_table_of_a_territory_recomputes_no_suppressed_cell() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut suppressed = 0;
    for round in 0..rounds() {
        let mut cells = random_territory(&mut rng);
        suppress(&mut cells, 11);
        // Primary suppression holds, and nothing shown rests on fewer people.
        assert!(
            cells.iter().all(|c| c.suppressed || c.n >= 11),
            "round {round}"
        );
        suppressed += cells.iter().filter(|c| c.suppressed).count();
        let found = attack(&seen(&cells));
        assert!(
            found.is_empty(),
            "round {round}: the attacker recomputes {:?}",
            found.iter().map(|&i| &cells[i]).collect::<Vec<_>>()
        );
    }
    assert!(
        suppressed > 1000,
        "the data must exercise suppression: {suppressed}"
    );
}

#[test]
fn the_audit_finds_cells_determined_across_two_kinds_of_sums() {
    // e_j in the row space: x0 = x1 + 5 and x0 + x1 = 15 give both.
    let rows = vec![vec![1.0, -1.0], vec![1.0, 1.0]];
    assert_eq!(determined(rows, 2), [0, 1]);
    let rows = vec![vec![1.0, -1.0, 0.0], vec![0.0, 1.0, -1.0]];
    assert!(determined(rows, 3).is_empty());
}
