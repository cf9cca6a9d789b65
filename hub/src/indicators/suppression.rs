//! Small-cell suppression of one indicator's cells in one territory.
//!
//! The published cells of a territory are linked by sums an attacker can
//! write down: a year is its quarters, a quarter its months (same
//! breakdown), and a total the cells of its breakdown (same period). In the
//! worst case, when no household counts in two cells, each link is an exact
//! sum of the people counted (`n`, and likewise of the numerators of a
//! share), so a cell that is hidden while the others of a link are shown
//! could be recomputed by subtraction. Hence three rules, in this order:
//!
//! 1. **Primary**: a cell resting on fewer than `min_cell` people is
//!    suppressed.
//! 2. **Secondary**, link by link until none applies: when a link's total is
//!    shown, its suppressed parts must be none, or at least two that together
//!    rest on at least `min_cell` people (what subtraction recovers is then
//!    itself a publishable cell); when its total is suppressed, at least one
//!    of its parts must be too. Otherwise the part resting on the fewest
//!    people that is still shown is suppressed as well (the total, when no
//!    part is left).
//! 3. **Audit**: the attacker's linear system over every link (the shown
//!    cells known, the suppressed ones unknown) is solved, and bounds are
//!    propagated through the links (every published cell rests on at least
//!    one person, so differences can pin a cell even when the system has
//!    many solutions); while either determines a suppressed cell, the
//!    smallest shown cell linked to that one (or, when all of those are
//!    suppressed, to them in turn) is suppressed and rule 2 applies again.
//!
//! The result depends only on the data, never on which periods or
//! territories a request asks for, so every table of the same data agrees.

use std::collections::BTreeMap;

use super::Period;

/// A cell as suppression sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub period: Period,
    pub breakdown: Option<String>,
    /// The people it rests on.
    pub n: i64,
    pub suppressed: bool,
}

/// A sum an attacker can write: `total` = sum of `parts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub total: usize,
    pub parts: Vec<usize>,
}

impl Link {
    fn members(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::once(self.total).chain(self.parts.iter().copied())
    }
}

/// The links between cells (indices into `cells`): period in period, and
/// breakdown in total. A total with no part present links nothing.
pub fn links(cells: &[Cell]) -> Vec<Link> {
    let index: BTreeMap<(Period, Option<&str>), usize> = cells
        .iter()
        .enumerate()
        .map(|(i, c)| ((c.period, c.breakdown.as_deref()), i))
        .collect();
    let mut groups: BTreeMap<(Period, Option<&str>, bool), Vec<usize>> = BTreeMap::new();
    for (i, c) in cells.iter().enumerate() {
        if let Some(parent) = c.period.parent() {
            groups
                .entry((parent, c.breakdown.as_deref(), false))
                .or_default()
                .push(i);
        }
        if c.breakdown.is_some() {
            groups.entry((c.period, None, true)).or_default().push(i);
        }
    }
    groups
        .into_iter()
        .filter_map(|((period, breakdown, _), parts)| {
            index
                .get(&(period, breakdown))
                .map(|&total| Link { total, parts })
        })
        .collect()
}

/// Sets `suppressed` on every cell by the three rules of this module.
pub fn suppress(cells: &mut [Cell], min_cell: u32) {
    let min = i64::from(min_cell);
    for c in cells.iter_mut() {
        c.suppressed = c.n < min;
    }
    let links = links(cells);
    loop {
        if let Some(i) = links.iter().find_map(|l| secondary(l, cells, min)) {
            cells[i].suppressed = true;
            continue;
        }
        let Some(&x) = exposed(cells, &links).first() else {
            break;
        };
        match nearest_shown(cells, &links, x) {
            Some(i) => cells[i].suppressed = true,
            // Every linked cell is already suppressed: nothing left to add.
            None => break,
        }
    }
}

/// The shown cell resting on the fewest people among those linked to `x`,
/// or, when all of those are suppressed, to them in turn (a cell can be
/// determined through a chain of suppressed ones).
fn nearest_shown(cells: &[Cell], links: &[Link], x: usize) -> Option<usize> {
    let mut seen = vec![false; cells.len()];
    seen[x] = true;
    let mut frontier = vec![x];
    while !frontier.is_empty() {
        let mut next = Vec::new();
        let mut shown = Vec::new();
        for l in links
            .iter()
            .filter(|l| l.members().any(|m| frontier.contains(&m)))
        {
            for m in l.members() {
                if !seen[m] {
                    seen[m] = true;
                    if cells[m].suppressed {
                        next.push(m);
                    } else {
                        shown.push(m);
                    }
                }
            }
        }
        if let Some(i) = shown.into_iter().min_by(|&a, &b| smaller(cells, a, b)) {
            return Some(i);
        }
        frontier = next;
    }
    None
}

/// Orders cells by the people they rest on, then by period and breakdown
/// (so the choice never depends on the order of the query's rows).
fn smaller(cells: &[Cell], a: usize, b: usize) -> std::cmp::Ordering {
    let key = |i: usize| (cells[i].n, cells[i].period, cells[i].breakdown.clone());
    key(a).cmp(&key(b))
}

/// The cell rule 2 suppresses next in this link, if any.
fn secondary(link: &Link, cells: &[Cell], min: i64) -> Option<usize> {
    let hidden: Vec<usize> = link
        .parts
        .iter()
        .copied()
        .filter(|&p| cells[p].suppressed)
        .collect();
    let total_hidden = cells[link.total].suppressed;
    let safe = if total_hidden {
        !hidden.is_empty()
    } else {
        hidden.is_empty()
            || (hidden.len() >= 2 && hidden.iter().map(|&p| cells[p].n).sum::<i64>() >= min)
    };
    if safe {
        return None;
    }
    link.parts
        .iter()
        .copied()
        .filter(|&p| !cells[p].suppressed)
        .min_by(|&a, &b| smaller(cells, a, b))
        .or((!total_hidden).then_some(link.total))
}

/// The suppressed cells the links determine exactly (indices into
/// `cells`): those whose unit vector lies in the row space of the links'
/// equations over the suppressed cells.
pub fn exposed(cells: &[Cell], links: &[Link]) -> Vec<usize> {
    let unknown: Vec<usize> = (0..cells.len()).filter(|&i| cells[i].suppressed).collect();
    if unknown.is_empty() {
        return Vec::new();
    }
    let column: BTreeMap<usize, usize> = unknown.iter().enumerate().map(|(j, &i)| (i, j)).collect();
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for link in links {
        let mut row = vec![0.0; unknown.len()];
        let mut any = false;
        for (m, sign) in link
            .members()
            .zip(std::iter::once(1.0).chain(std::iter::repeat(-1.0)))
        {
            if let Some(&j) = column.get(&m) {
                row[j] += sign;
                any = true;
            }
        }
        if any {
            rows.push(row);
        }
    }
    let mut out: Vec<usize> = determined(rows, unknown.len())
        .into_iter()
        .map(|j| unknown[j])
        .collect();
    out.extend(pinned(cells, links));
    out.sort_unstable();
    out.dedup();
    out
}

/// The suppressed cells whose bounds meet: each cell rests on at least one
/// person, a shown cell on exactly its `n`, and each link's total is the sum
/// of its parts; bounds are narrowed link by link until they settle.
pub fn pinned(cells: &[Cell], links: &[Link]) -> Vec<usize> {
    // Far above any count, far below overflow when summed.
    const UNBOUNDED: i64 = 1 << 40;
    let mut lo: Vec<i64> = cells
        .iter()
        .map(|c| if c.suppressed { 1 } else { c.n })
        .collect();
    let mut hi: Vec<i64> = cells
        .iter()
        .map(|c| if c.suppressed { UNBOUNDED } else { c.n })
        .collect();
    let sum = |v: &[i64], parts: &[usize]| -> i64 {
        parts
            .iter()
            .fold(0i64, |a, &q| a.saturating_add(v[q]))
            .min(UNBOUNDED)
    };
    for _ in 0..1000 {
        let mut changed = false;
        for link in links {
            let t = link.total;
            let sum_lo = sum(&lo, &link.parts);
            let sum_hi = sum(&hi, &link.parts);
            if sum_lo > lo[t] {
                lo[t] = sum_lo;
                changed = true;
            }
            if sum_hi < hi[t] {
                hi[t] = sum_hi;
                changed = true;
            }
            for &q in &link.parts {
                // Nothing bounds a part from above while the total is
                // unbounded, nor from below while another part is.
                if hi[t] < UNBOUNDED && hi[t] - (sum_lo - lo[q]) < hi[q] {
                    hi[q] = hi[t] - (sum_lo - lo[q]);
                    changed = true;
                }
                if sum_hi < UNBOUNDED && lo[t] - (sum_hi - hi[q]) > lo[q] {
                    lo[q] = lo[t] - (sum_hi - hi[q]);
                    changed = true;
                }
            }
        }
        // Households counted in several months make a total smaller than
        // the sum of its parts: the sums are then not exact, and bounds
        // drawn from them pin nothing.
        if (0..cells.len()).any(|i| lo[i] > hi[i]) {
            return Vec::new();
        }
        if !changed {
            break;
        }
    }
    (0..cells.len())
        .filter(|&i| cells[i].suppressed && lo[i] == hi[i])
        .collect()
}

/// Columns `j` such that the unit vector e_j is a combination of `rows`:
/// after reduction to reduced row echelon form, exactly the rows with a
/// single non-zero entry.
pub fn determined(mut rows: Vec<Vec<f64>>, width: usize) -> Vec<usize> {
    const EPS: f64 = 1e-9;
    let mut pivot_row = 0;
    for col in 0..width {
        let Some(r) = (pivot_row..rows.len())
            .max_by(|&a, &b| rows[a][col].abs().total_cmp(&rows[b][col].abs()))
        else {
            break;
        };
        if rows[r][col].abs() < EPS {
            continue;
        }
        rows.swap(pivot_row, r);
        let p = rows[pivot_row][col];
        for v in rows[pivot_row].iter_mut() {
            *v /= p;
        }
        for r in 0..rows.len() {
            if r != pivot_row && rows[r][col].abs() >= EPS {
                let f = rows[r][col];
                let pivot = rows[pivot_row].clone();
                for (v, p) in rows[r].iter_mut().zip(&pivot) {
                    *v -= f * p;
                }
            }
        }
        pivot_row += 1;
    }
    let mut out: Vec<usize> = rows
        .iter()
        .filter_map(|row| {
            let mut nz = row.iter().enumerate().filter(|(_, v)| v.abs() >= EPS);
            match (nz.next(), nz.next()) {
                (Some((j, _)), None) => Some(j),
                _ => None,
            }
        })
        .collect();
    out.sort_unstable();
    out
}

#[cfg(test)]
pub(crate) mod tests;
