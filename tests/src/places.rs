//! Real postcodes and communes per territory, and the fake people who live there.
//!
//! Every postcode/commune pair below was checked against `shared/data/communes.csv`, so
//! a correct resolver finds each of them; the ambiguous and unique city names were
//! checked the same way (a unique name is one `commune-actuelle`, an ambiguous one
//! exists in several départements).

use crate::Territory;

/// A postcode and the commune name a partner would write beside it.
pub(crate) type Place = (&'static str, &'static str);

/// Addresses inside the territory's EPCI.
pub(crate) fn inside(territory: Territory) -> &'static [Place] {
    match territory {
        Territory::Lyon => &[
            ("69001", "Lyon"),
            ("69002", "Lyon"),
            ("69003", "Lyon"),
            ("69004", "Lyon"),
            ("69005", "Lyon"),
            ("69006", "Lyon"),
            ("69007", "Lyon"),
            ("69008", "Lyon"),
            ("69009", "Lyon"),
            ("69100", "Villeurbanne"),
            ("69200", "Vénissieux"),
            ("69120", "Vaulx-en-Velin"),
            ("69800", "Saint-Priest"),
            ("69500", "Bron"),
            ("69300", "Caluire-et-Cuire"),
            ("69140", "Rillieux-la-Pape"),
            ("69150", "Décines-Charpieu"),
            ("69330", "Meyzieu"),
        ],
        Territory::Toulouse => &[
            ("31000", "Toulouse"),
            ("31100", "Toulouse"),
            ("31200", "Toulouse"),
            ("31300", "Toulouse"),
            ("31400", "Toulouse"),
            ("31500", "Toulouse"),
            ("31700", "Blagnac"),
            ("31770", "Colomiers"),
            ("31170", "Tournefeuille"),
            ("31130", "Balma"),
            ("31270", "Cugnaux"),
        ],
        Territory::Montpellier => &[
            ("34000", "Montpellier"),
            ("34070", "Montpellier"),
            ("34080", "Montpellier"),
            ("34090", "Montpellier"),
            ("34170", "Castelnau-le-Lez"),
            ("34970", "Lattes"),
            ("34990", "Juvignac"),
            ("34430", "Saint-Jean-de-Védas"),
            ("34920", "Le Crès"),
        ],
        Territory::AixMarseille => &[
            ("13001", "Marseille"),
            ("13002", "Marseille"),
            ("13003", "Marseille"),
            ("13004", "Marseille"),
            ("13005", "Marseille"),
            ("13006", "Marseille"),
            ("13007", "Marseille"),
            ("13008", "Marseille"),
            ("13009", "Marseille"),
            ("13010", "Marseille"),
            ("13011", "Marseille"),
            ("13012", "Marseille"),
            ("13013", "Marseille"),
            ("13014", "Marseille"),
            ("13015", "Marseille"),
            ("13016", "Marseille"),
            ("13090", "Aix-en-Provence"),
            ("13100", "Aix-en-Provence"),
            ("13400", "Aubagne"),
            ("13500", "Martigues"),
            ("13300", "Salon-de-Provence"),
        ],
    }
}

/// Real French addresses outside the territory: stored, with `in_territory = false`.
pub(crate) fn outside(territory: Territory) -> &'static [Place] {
    match territory {
        Territory::Lyon => &[("01000", "Bourg-en-Bresse"), ("38200", "Vienne")],
        Territory::Toulouse => &[("01000", "Bourg-en-Bresse"), ("81000", "Albi")],
        Territory::Montpellier => &[("01000", "Bourg-en-Bresse"), ("34200", "Sète")],
        Territory::AixMarseille => &[("01000", "Bourg-en-Bresse"), ("84000", "Avignon")],
    }
}

/// Whether a postcode of [`inside`] written alone (no commune name) lies in the
/// territory: `None` (unknown) for the few that communes outside share: 69330
/// (Meyzieu, Jonage | Jons, Pusignan), 31700 and 31270.
pub(crate) fn inside_alone(postcode: &str) -> Option<bool> {
    match postcode {
        "69330" | "31700" | "31270" => None,
        _ => Some(true),
    }
}

/// Postcodes shared by communes of several EPCIs, and no commune name beside
/// them: all of them outside the territory (stored with `in_territory =
/// false`), then some inside and some outside (`in_territory` unknown, null).
pub(crate) fn shared_postcodes(territory: Territory) -> (&'static str, &'static str) {
    match territory {
        // Villefranche-sur-Saône and its neighbours; Charly, Vernaison | Millery, Vourles.
        Territory::Lyon => ("69400", "69390"),
        // Portet-sur-Garonne…; Aucamville, Launaguet | Montberon, Pechbonnieu…
        Territory::Toulouse => ("31120", "31140"),
        // Ganges…; Pignan, Saussan | Montarnaud, Vailhauquès…
        Territory::Montpellier => ("34190", "34570"),
        // Cuers, Pierrefeu-du-Var, Puget-Ville; Cuges-les-Pins | Riboux.
        Territory::AixMarseille => ("83390", "13780"),
    }
}

/// A commune name that is one commune in France, so a city alone resolves.
pub(crate) fn unique_city(territory: Territory) -> Place {
    match territory {
        Territory::Lyon => ("69100", "Villeurbanne"),
        Territory::Toulouse => ("31770", "Colomiers"),
        Territory::Montpellier => ("34170", "Castelnau-le-Lez"),
        Territory::AixMarseille => ("13400", "Aubagne"),
    }
}

/// A commune name borne by communes of several départements: never guessed.
/// Saint-Denis exists in 11, 30, 93 and 974; Valence in 16, 26 and 82.
pub(crate) fn ambiguous_city(territory: Territory) -> &'static str {
    match territory {
        Territory::Lyon | Territory::Toulouse => "Saint-Denis",
        Territory::Montpellier | Territory::AixMarseille => "Valence",
    }
}

/// The one postcode whose leading zero a spreadsheet loses in our data.
pub(crate) const LOST_ZERO: Place = ("01000", "Bourg-en-Bresse");

pub(crate) fn drop_points(territory: Territory) -> &'static [&'static str] {
    match territory {
        Territory::Lyon => &[
            "Jardin de Cocagne, Vaise",
            "MJC Villeurbanne",
            "Épicerie solidaire de Bron",
            "Centre social des États-Unis",
        ],
        Territory::Toulouse => &[
            "Jardin de Cocagne, Ginestous",
            "Maison de quartier Empalot",
            "Centre social de Bagatelle",
        ],
        Territory::Montpellier => &[
            "Jardin de Cocagne, Lattes",
            "Maison pour tous Léo Lagrange",
            "Épicerie sociale de la Paillade",
        ],
        Territory::AixMarseille => &[
            "Jardin de Cocagne, Aubagne",
            "Centre social Saint-Mauront",
            "Cité des associations, Marseille",
            "Épicerie solidaire du Jas de Bouffan",
        ],
    }
}

pub(crate) const FIRST_NAMES: &[&str] = &[
    "Camille", "Léa", "Manon", "Chloé", "Inès", "Jade", "Louise", "Emma", "Sarah", "Yasmine",
    "Fatima", "Aïcha", "Nathalie", "Sandrine", "Isabelle", "Sylvie", "Martine", "Nadia", "Hélène",
    "Claire", "Lucas", "Hugo", "Mathis", "Nathan", "Karim", "Mohamed", "Youssef", "Julien",
    "Pierre", "Jean", "Patrick", "Alain", "Mamadou", "Kevin", "Théo", "Antoine",
];

pub(crate) const LAST_NAMES: &[&str] = &[
    "Martin",
    "Dubois",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Lefebvre",
    "Garcia",
    "Bertrand",
    "Roux",
    "Fournier",
    "Morel",
    "Girard",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "Martinez",
    "Benali",
    "Haddad",
    "Diallo",
    "Nguyen",
    "Da Silva",
    "Rousseau",
    "Blanc",
    "Guérin",
    "Muller",
    "Roussel",
    "Chevalier",
    "Gauthier",
];

pub(crate) const PRESCRIBERS: &[&str] = &[
    "CCAS",
    "Secours Catholique",
    "CAF",
    "Mission locale",
    "Assistante sociale du Département",
    "Restos du Cœur",
];

/// A produce label and the quantity a basket usually holds.
pub(crate) const PRODUCE: &[(&str, &str)] = &[
    ("carottes", "1kg"),
    ("poireaux", "3 pces"),
    ("blettes", "1 botte"),
    ("pommes de terre", "2kg"),
    ("courge butternut", "1 pce"),
    ("salade", "1 pce"),
    ("radis", "1 botte"),
    ("oignons", "500g"),
    ("tomates", "1kg"),
    ("courgettes", "800g"),
    ("épinards", "400g"),
    ("chou kale", "300g"),
    ("œufs", "6"),
    ("pommes", "1kg"),
    ("haricots verts", "500g"),
    ("betteraves", "3 pces"),
];
