//! French product labels → Data Food Consortium product types (`productTypes`
//! taxonomy ids). A table of keywords, matched on whole words of the folded
//! label (case, accents, plurals and punctuation ignored); the first rule that
//! matches wins, so the more telling rules come first (`jus de pommes` is a
//! drink, `yaourt aux fruits` a dairy product, `pommes de terre` a vegetable, not
//! apples). An unknown label is [`UNCLASSIFIED`]: the caller keeps its text.
//!
//! Ids used: `inedible`, `drink`, `dried-vegetable`, `egg`, `dairy-product`,
//! `meat-product`, `bakery`, `local-grocery-store`, `carrot`, `leek`, `apple`,
//! `vegetable`, `fruit`, and `unclassified`.

use crate::fr::fold_label;

/// What an unknown label is classified as (never a guess).
pub const UNCLASSIFIED: &str = "unclassified";

/// (DFC product type id, keyword phrases in folded singular form).
const RULES: &[(&str, &[&str])] = &[
    (
        "inedible",
        &[
            "savon",
            "lessive",
            "shampoing",
            "shampooing",
            "dentifrice",
            "brosse a dent",
            "papier toilette",
            "papier hygienique",
            "essuie tout",
            "couche",
            "liquide vaisselle",
            "produit vaisselle",
            "gel douche",
            "eponge",
            "javel",
            "mouchoir",
            "serviette hygienique",
            "protection periodique",
            "deodorant",
            "detergent",
            "adoucissant",
            "nettoyant",
        ],
    ),
    (
        "drink",
        &[
            "jus",
            "vin",
            "biere",
            "cidre",
            "sirop",
            "limonade",
            "soda",
            "eau minerale",
            "eau gazeuse",
            "eau de source",
            "cafe",
            "the",
            "infusion",
            "tisane",
            "boisson",
            "nectar",
        ],
    ),
    (
        "dried-vegetable",
        &[
            "lentille",
            "pois chiche",
            "pois casse",
            "haricot sec",
            "haricot blanc",
            "haricot rouge",
            "flageolet",
            "feve seche",
            "legumineuse",
            "legume sec",
        ],
    ),
    ("egg", &["oeuf"]),
    (
        "dairy-product",
        &[
            "lait",
            "yaourt",
            "yogourt",
            "yoghourt",
            "fromage",
            "beurre",
            "creme fraiche",
            "petit suisse",
            "faisselle",
            "kefir",
            "emmental",
            "comte",
            "camembert",
            "brie",
            "tomme",
            "raclette",
            "mozzarella",
            "laitage",
            "produit laitier",
        ],
    ),
    (
        "meat-product",
        &[
            "poulet",
            "boeuf",
            "jambon",
            "porc",
            "veau",
            "agneau",
            "dinde",
            "saucisse",
            "saucisson",
            "steak",
            "viande",
            "lardon",
            "merguez",
            "chipolata",
            "canard",
            "lapin",
            "escalope",
            "charcuterie",
            "volaille",
            "roti",
        ],
    ),
    (
        "bakery",
        &[
            "pain",
            "baguette",
            "brioche",
            "croissant",
            "viennoiserie",
            "biscotte",
            "fougasse",
            "boulangerie",
        ],
    ),
    (
        "local-grocery-store",
        &[
            "pate",
            "riz",
            "farine",
            "sucre",
            "huile",
            "sel",
            "conserve",
            "semoule",
            "couscous",
            "confiture",
            "miel",
            "chocolat",
            "biscuit",
            "cereale",
            "muesli",
            "vinaigre",
            "moutarde",
            "epice",
            "quinoa",
            "boulgour",
            "sauce",
            "epicerie",
        ],
    ),
    ("vegetable", &["pomme de terre", "patate douce"]),
    ("carrot", &["carotte"]),
    ("leek", &["poireau"]),
    ("apple", &["pomme"]),
    (
        "vegetable",
        &[
            "legume",
            "tomate",
            "courgette",
            "aubergine",
            "salade",
            "laitue",
            "chou",
            "brocoli",
            "epinard",
            "blette",
            "navet",
            "radis",
            "betterave",
            "oignon",
            "ail",
            "echalote",
            "concombre",
            "poivron",
            "potiron",
            "courge",
            "butternut",
            "potimarron",
            "celeri",
            "fenouil",
            "haricot vert",
            "petit pois",
            "mache",
            "endive",
            "artichaut",
            "panais",
            "topinambour",
            "mesclun",
            "champignon",
            "patate",
            "cresson",
            "asperge",
        ],
    ),
    (
        "fruit",
        &[
            "fruit",
            "poire",
            "banane",
            "orange",
            "clementine",
            "mandarine",
            "citron",
            "kiwi",
            "raisin",
            "fraise",
            "framboise",
            "cerise",
            "abricot",
            "peche",
            "prune",
            "melon",
            "pasteque",
            "ananas",
            "mangue",
            "figue",
            "myrtille",
            "groseille",
            "cassis",
            "rhubarbe",
            "nectarine",
            "compote",
        ],
    ),
];

/// The singular of a folded French word, roughly (`poireaux` → `poireau`,
/// `carottes` → `carotte`); both forms are tried, so `jus` stays `jus`.
fn singular(w: &str) -> &str {
    if w.len() > 3 && (w.ends_with('s') || w.ends_with('x')) {
        &w[..w.len() - 1]
    } else {
        w
    }
}

fn word_matches(word: &str, keyword: &str) -> bool {
    word == keyword || singular(word) == keyword
}

/// The DFC product type of a French label, or [`UNCLASSIFIED`].
pub fn classify(label: &str) -> &'static str {
    let folded = fold_label(label);
    let words: Vec<&str> = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    for (id, keywords) in RULES {
        for phrase in *keywords {
            let kw: Vec<&str> = phrase.split(' ').collect();
            if words
                .windows(kw.len())
                .any(|win| win.iter().zip(&kw).all(|(w, k)| word_matches(w, k)))
            {
                return id;
            }
        }
    }
    UNCLASSIFIED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_brief_s_examples() {
        for (label, id) in [
            ("Carottes", "carrot"),
            ("carottes 1kg", "carrot"),
            ("Poireaux", "leek"),
            ("POIREAU", "leek"),
            ("Pommes", "apple"),
            ("Pommes golden", "apple"),
            ("Lait demi-écrémé", "dairy-product"),
            ("Yaourt nature x4", "dairy-product"),
            ("Yaourts aux fruits", "dairy-product"),
            ("Fromage de chèvre", "dairy-product"),
            ("Pain de campagne", "bakery"),
            ("Œufs plein air x6", "egg"),
            ("oeufs", "egg"),
            ("Lentilles vertes", "dried-vegetable"),
            ("Pois chiches", "dried-vegetable"),
            ("Jus de pomme", "drink"),
            ("Vin rouge", "drink"),
            ("Bière blonde", "drink"),
            ("Savon de Marseille", "inedible"),
            ("Lessive liquide", "inedible"),
            ("Poulet fermier", "meat-product"),
            ("Boeuf haché", "meat-product"),
            ("Jambon blanc", "meat-product"),
            ("Légumes de saison", "vegetable"),
            ("Fruits de saison", "fruit"),
            ("Pommes de terre", "vegetable"),
            ("Blettes", "vegetable"),
            ("Choux-fleurs", "vegetable"),
            ("Pâtes", "local-grocery-store"),
            ("Riz basmati", "local-grocery-store"),
            ("Clémentines", "fruit"),
        ] {
            assert_eq!(classify(label), id, "{label}");
        }
    }

    #[test]
    fn unknown_is_unclassified_never_a_guess() {
        for label in ["", "Article divers", "XYZ-42", "Gadget", "Poisson pané"] {
            assert_eq!(classify(label), UNCLASSIFIED, "{label}");
        }
    }

    #[test]
    fn accents_case_and_mojibake() {
        assert_eq!(classify("BIÈRE"), "drink");
        assert_eq!(classify("biere"), "drink");
        assert_eq!(classify("BiÃ¨re"), "drink");
        assert_eq!(classify("  carotte  "), "carrot");
    }
}
