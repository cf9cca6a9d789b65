use super::*;

fn g() -> &'static Gazetteer {
    match gazetteer() {
        Ok(g) => g,
        Err(e) => panic!("embedded reference data does not parse: {e}"),
    }
}

fn loc(postcode: Option<&str>, commune: Option<&str>) -> Location {
    Location {
        postcode: postcode.map(str::to_owned),
        commune: commune.map(str::to_owned),
        insee: None,
    }
}

fn ok(postcode: Option<&str>, commune: Option<&str>) -> Residence {
    match g().resolve(&loc(postcode, commune)) {
        Ok(r) => r,
        Err(e) => panic!("{postcode:?} / {commune:?}: {e}"),
    }
}

/// Resolves, expects an error, and checks its detail does not leak the input.
fn err(postcode: Option<&str>, commune: Option<&str>) -> LocationError {
    let e = match g().resolve(&loc(postcode, commune)) {
        Ok(r) => panic!("{postcode:?} / {commune:?} resolved to {r:?}"),
        Err(e) => e,
    };
    for input in [postcode, commune].into_iter().flatten() {
        let input = input.trim();
        if input.is_empty() {
            continue;
        }
        assert!(
            !e.detail.contains(input) && !e.to_string().contains(input),
            "error leaks the input {input:?}: {e}"
        );
    }
    e
}

#[test]
fn embedded_data_loads() {
    let g = g();
    assert_eq!(g.communes().count(), 35_014);
    assert_eq!(g.communes().filter(|c| c.is_arrondissement()).count(), 45);
    assert_eq!(g.epcis().count(), 1255);
    // Every EPCI a commune points to is known.
    for c in g.communes() {
        if let Some(siren) = &c.epci_siren {
            assert!(g.epci(siren).is_some(), "{} → {siren}", c.insee);
        }
    }
    assert_eq!(g.epci_name("200046977"), Some("Métropole de Lyon"));
    assert_eq!(g.epci_name("999999999"), None);
    let lyon8 = g.commune("69388").map(|c| c.name.as_str());
    assert_eq!(lyon8, Some("Lyon 8e Arrondissement"));
    assert_eq!(g.commune("2a004").map(|c| c.name.as_str()), Some("Ajaccio"));
    let lyon3 = g.commune("69383");
    assert_eq!(lyon3.and_then(|c| c.parent_insee.as_deref()), Some("69123"));
}

#[test]
fn from_csv_reports_errors() {
    let epci = "siren,name,kind,population\n200046977,Métropole de Lyon,MET69,1\n";
    let bad_kind = "insee,name,kind,departement,parent_insee,epci_siren,postcodes,population\n\
                    69123,Lyon,ville,69,,200046977,69001,1\n";
    assert!(matches!(
        Gazetteer::from_csv(bad_kind, epci),
        Err(GeoError::InvalidField {
            column: "kind",
            line: 2,
            ..
        })
    ));
    let no_col = "insee,name\n69123,Lyon\n";
    assert!(matches!(
        Gazetteer::from_csv(no_col, epci),
        Err(GeoError::MissingColumn { .. })
    ));
    let orphan = "insee,name,kind,departement,parent_insee,epci_siren,postcodes,population\n\
                  69381,Lyon 1er Arrondissement,arrondissement-municipal,69,69123,,69001,1\n";
    assert!(matches!(
        Gazetteer::from_csv(orphan, epci),
        Err(GeoError::UnknownParent { .. })
    ));
}

#[test]
fn arrondissement_inherits_parent_epci() {
    let epci = "siren,name,kind,population\n200046977,Métropole de Lyon,MET69,1\n";
    let communes = "insee,name,kind,departement,parent_insee,epci_siren,postcodes,population\n\
                    69123,Lyon,commune-actuelle,69,,200046977,69001|69003,519127\n\
                    69383,Lyon 3e Arrondissement,arrondissement-municipal,69,69123,,69003,\n";
    let g = match Gazetteer::from_csv(communes, epci) {
        Ok(g) => g,
        Err(e) => panic!("{e}"),
    };
    let r = g.resolve(&loc(Some("69003"), None));
    assert_eq!(
        r,
        Ok(Residence {
            insee: Some("69383".into()),
            postcode: Some("69003".into()),
            commune: Some("Lyon 3e Arrondissement".into()),
            epci_siren: Some("200046977".into()),
            departement: Some("69".into()),
            candidate_epcis: vec![Some("200046977".into())],
        })
    );
    // 69001 has no arrondissement in this file: the city itself.
    let r = g.resolve(&loc(Some("69001"), None));
    assert_eq!(r.map(|r| r.insee), Ok(Some("69123".into())));
}

#[test]
fn postcode_with_space_resolves_to_lyon_arrondissement() {
    let r = ok(Some("69 008"), None);
    assert_eq!(r.insee.as_deref(), Some("69388"));
    assert_eq!(r.postcode.as_deref(), Some("69008"));
    assert_eq!(r.commune.as_deref(), Some("Lyon 8e Arrondissement"));
    assert_eq!(r.epci_siren.as_deref(), Some("200046977"));
    assert_eq!(r.departement.as_deref(), Some("69"));
    assert_eq!(
        ok(Some("69\u{202F}003"), Some("Lyon")).insee.as_deref(),
        Some("69383")
    );
    assert_eq!(ok(Some("75116"), None).insee.as_deref(), Some("75116"));
    assert_eq!(ok(Some("75016"), None).insee.as_deref(), Some("75116"));
}

#[test]
fn lost_leading_zero() {
    // 01000 is shared by Bourg-en-Bresse (01053) and Saint-Denis-lès-Bourg (01344).
    let r = ok(Some("1000"), Some("Bourg-en-Bresse"));
    assert_eq!(r.insee.as_deref(), Some("01053"));
    assert_eq!(r.postcode.as_deref(), Some("01000"));
    assert_eq!(r.commune.as_deref(), Some("Bourg-en-Bresse"));
    assert_eq!(r.epci_siren.as_deref(), Some("200071751"));
    let r = ok(Some("1000"), Some("ST DENIS LES BOURG"));
    assert_eq!(r.insee.as_deref(), Some("01344"));
    // Without a name: the postcode, EPCI and département they share, no commune.
    let r = ok(Some("1000"), None);
    assert_eq!(r.insee, None);
    assert_eq!(r.postcode.as_deref(), Some("01000"));
    assert_eq!(r.epci_siren.as_deref(), Some("200071751"));
    assert_eq!(r.departement.as_deref(), Some("01"));
    // 01440 belongs to Viriat alone.
    assert_eq!(ok(Some("1440"), None).insee.as_deref(), Some("01451"));
}

#[test]
fn cedex() {
    let r = ok(Some("13001 CEDEX"), None);
    assert_eq!(r.insee.as_deref(), Some("13201"));
    assert_eq!(r.commune.as_deref(), Some("Marseille 1er Arrondissement"));
    assert_eq!(r.epci_siren.as_deref(), Some("200054807"));
    assert_eq!(
        ok(Some("13001 Cedex 01"), None).insee.as_deref(),
        Some("13201")
    );
    // A CEDEX code (not a commune postcode) with an unambiguous name in its département.
    let r = ok(Some("69361 CEDEX 07"), Some("Lyon"));
    assert_eq!(r.insee.as_deref(), Some("69123"));
    assert_eq!(r.postcode, None);
    assert_eq!(
        err(Some("69361 CEDEX 07"), None).reason,
        RejectReason::UnknownPostcode
    );
    // The name exists, but not in that département.
    assert_eq!(
        err(Some("69361 CEDEX"), Some("Valence")).reason,
        RejectReason::UnknownPostcode
    );
}

#[test]
fn unknown_postcodes() {
    for pc in ["99999", "ABCDE", "123", "690080", "69-008", "69OO8", "00"] {
        let e = err(Some(pc), None);
        assert_eq!(e.reason, RejectReason::UnknownPostcode, "{pc}");
        assert_eq!(e.field, "postcode");
    }
    // An invalid postcode is quarantined even beside a good commune name.
    let e = err(Some("99999"), Some("Villeurbanne"));
    assert_eq!(e.reason, RejectReason::UnknownPostcode);
}

#[test]
fn city_in_postcode_field() {
    let r = ok(Some("Villeurbanne"), None);
    assert_eq!(r.insee.as_deref(), Some("69266"));
    assert_eq!(r.postcode.as_deref(), Some("69100"));
    assert_eq!(
        ok(Some("VILLEURBANNE"), Some("villeurbanne"))
            .insee
            .as_deref(),
        Some("69266")
    );
    let e = err(Some("Valence"), None);
    assert_eq!(e.reason, RejectReason::UnresolvedLocation);
    assert_eq!(e.field, "postcode");
    // A city in the postcode field contradicting the commune field: not guessed.
    let e = err(Some("Villeurbanne"), Some("Vénissieux"));
    assert_eq!(e.reason, RejectReason::UnknownPostcode);
}

#[test]
fn name_in_several_departements_is_unresolved() {
    // Valence: Charente (16), Drôme (26), Tarn-et-Garonne (82).
    assert_eq!(g().communes_by_name("Valence").count(), 3);
    for name in ["Valence", "Saint-Denis", "Saint Priest", "ST PRIEST"] {
        let e = err(None, Some(name));
        assert_eq!(e.reason, RejectReason::UnresolvedLocation, "{name}");
        assert_eq!(e.field, "commune");
    }
    let e = err(Some(""), Some("Nowhere-sur-Rien"));
    assert_eq!(e.reason, RejectReason::UnresolvedLocation);
}

#[test]
fn name_alone() {
    for name in [
        "Villeurbanne",
        "villeurbanne",
        "VILLEURBANNE",
        " Villeurbanne  ",
    ] {
        let r = ok(None, Some(name));
        assert_eq!(r.insee.as_deref(), Some("69266"), "{name}");
        assert_eq!(r.commune.as_deref(), Some("Villeurbanne"));
        assert_eq!(r.postcode.as_deref(), Some("69100"));
        assert_eq!(r.epci_siren.as_deref(), Some("200046977"));
    }
    // Mojibake is repaired before matching.
    assert_eq!(
        ok(None, Some("VÃ©nissieux")).insee.as_deref(),
        Some("69259")
    );
    assert_eq!(ok(None, Some("ECULLY")).insee.as_deref(), Some("69081"));
    assert_eq!(ok(None, Some("Lyon 3ème")).insee.as_deref(), Some("69383"));
    // Lyon has nine postcodes: none is assumed.
    let r = ok(None, Some("Lyon"));
    assert_eq!(r.insee.as_deref(), Some("69123"));
    assert_eq!(r.postcode, None);
}

#[test]
fn saint_spellings_normalise() {
    assert_eq!(name_key("Saint Priest"), name_key("Saint-Priest"));
    assert_eq!(name_key("St-Priest"), name_key("Saint-Priest"));
    let with = |name| ok(Some("69800"), Some(name)).insee;
    assert_eq!(with("Saint Priest").as_deref(), Some("69290"));
}

#[test]
fn shared_postcode_with_matching_name() {
    // 07000 is shared by 13 communes of the Ardèche, Saint-Priest (07288) among them.
    assert_eq!(g().communes_by_postcode("07000").count(), 13);
    for name in ["Saint-Priest", "St Priest", "SAINT PRIEST"] {
        let r = ok(Some("7000"), Some(name));
        assert_eq!(r.insee.as_deref(), Some("07288"), "{name}");
        assert_eq!(r.postcode.as_deref(), Some("07000"));
        assert_eq!(r.commune.as_deref(), Some("Saint-Priest"));
    }
    // 13780: Cuges-les-Pins (13) and Riboux (83).
    assert_eq!(
        ok(Some("13780"), Some("Riboux")).insee.as_deref(),
        Some("83105")
    );
}

#[test]
fn shared_postcode_without_name_knows_less() {
    // All 13 communes of 07000 share an EPCI and a département: those are kept.
    let r = ok(Some("07000"), None);
    assert_eq!(
        r,
        Residence {
            insee: None,
            postcode: Some("07000".into()),
            commune: None,
            epci_siren: Some("200071413".into()),
            departement: Some("07".into()),
            candidate_epcis: vec![Some("200071413".into())],
        }
    );
    // A name matching none of the candidates changes nothing.
    assert_eq!(ok(Some("07000"), Some("Villeurbanne")), r);
    // 13780 spans two départements and two EPCIs: nothing but the postcode, and
    // the EPCIs it may lie in.
    let r = ok(Some("13780"), None);
    assert_eq!(
        r,
        Residence {
            postcode: Some("13780".into()),
            candidate_epcis: r.candidate_epcis.clone(),
            ..Residence::default()
        }
    );
    assert_eq!(r.candidate_epcis.len(), 2);
}

#[test]
fn in_territory_when_every_candidate_agrees() {
    let lyon = ["200046977".to_string()];
    let inside = |pc: &str, name: Option<&str>| ok(Some(pc), name).in_territory(&lyon);
    // One commune: inside or not.
    assert_eq!(inside("69003", None), Some(true));
    assert_eq!(inside("01000", None), Some(false));
    // A postcode shared by communes of several EPCIs, none of them Lyon's:
    // outside (Villefranche-sur-Saône, Arnas, Gleizé, Limas in one EPCI, Porte
    // des Pierres Dorées in another).
    let r = ok(Some("69400"), None);
    assert_eq!((r.insee.as_deref(), r.epci_siren.as_deref()), (None, None));
    assert!(r.candidate_epcis.len() > 1);
    assert_eq!(r.in_territory(&lyon), Some(false));
    assert_eq!(inside("69530", None), Some(false), "Brignais, Orliénas");
    // Communes inside and outside: unknown, unless the name settles it.
    assert_eq!(
        inside("69390", None),
        None,
        "Charly, Vernaison in; Millery out"
    );
    assert_eq!(inside("69390", Some("Vernaison")), Some(true));
    assert_eq!(inside("69390", Some("Millery")), Some(false));
    // All candidates inside.
    let r = ok(Some("69390"), None);
    let both: Vec<String> = r.candidate_epcis.iter().flatten().cloned().collect();
    assert_eq!(r.in_territory(&both), Some(true));
    // A commune in no EPCI is in no territory.
    assert_eq!(inside("29990", None), Some(false), "Île-de-Sein");
    // Nothing given: unknown.
    assert_eq!(Residence::default().in_territory(&lyon), None);
}

#[test]
fn single_postcode_wins_over_name() {
    let r = ok(Some("69100"), Some("Lyon"));
    assert_eq!(r.insee.as_deref(), Some("69266"));
}

#[test]
fn nothing_given_is_an_unknown_residence() {
    assert_eq!(ok(None, None), Residence::default());
    assert_eq!(ok(Some(""), Some("  ")), Residence::default());
    assert_eq!(ok(Some(" CEDEX "), None), Residence::default());
    for missing in ["-", "?", "NC", " - "] {
        assert_eq!(ok(Some(missing), Some(missing)), Residence::default());
    }
}

#[test]
fn insee_given() {
    let g = g();
    let with = |insee: &str, postcode: Option<&str>| {
        g.resolve(&Location {
            postcode: postcode.map(str::to_owned),
            commune: None,
            insee: Some(insee.to_owned()),
        })
    };
    let r = with("69266", None).map(|r| (r.insee, r.postcode));
    assert_eq!(r, Ok((Some("69266".into()), Some("69100".into()))));
    let r = with("69123", Some("69 003")).map(|r| (r.insee, r.postcode));
    assert_eq!(r, Ok((Some("69123".into()), Some("69003".into()))));
    let e = with("00000", None).map(|_| ());
    assert!(matches!(
        e,
        Err(LocationError {
            reason: RejectReason::UnresolvedLocation,
            field: "insee",
            ..
        })
    ));
    // An unknown INSEE code beside a postcode: the postcode decides.
    let r = with("00000", Some("69008")).map(|r| r.insee);
    assert_eq!(r, Ok(Some("69388".into())));
}

#[test]
fn resolve_ref_postcode_path() {
    let g = g();
    let l = loc(Some("69 008"), None);
    let r = match g.resolve_ref(&l) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(r.commune.map(|c| c.insee.as_str()), Some("69388"));
    assert_eq!(r.postcode.map(|p| p.to_string()).as_deref(), Some("69008"));
    // Rough throughput check (debug build): well under a few µs per record.
    let start = std::time::Instant::now();
    let n = 100_000;
    for _ in 0..n {
        std::hint::black_box(g.resolve_ref(std::hint::black_box(&l)).is_ok());
    }
    let per = start.elapsed() / n;
    assert!(per < std::time::Duration::from_micros(20), "{per:?}/record");
}
