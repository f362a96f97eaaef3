//! Library-level checks on the real datasets: the demo seed and the data layer's numbers.

use kiln_core::data::{column_stats, histogram, scatter, value_counts};
use kiln_core::{Cancel, ImportOptions, Progress, Workspace};

#[test]
fn penguins_histogram_and_counts_match_pandas() {
    let d = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(d.path()).unwrap();
    let out = ws
        .import(
            &crate::support::fixture("penguins.csv"),
            "penguins",
            &ImportOptions::default(),
            &Cancel::new(),
            &Progress::new(),
        )
        .unwrap();
    let df = ws.load(&out.version).unwrap();
    let h = histogram(&df, "bill_length_mm", 10).unwrap();
    assert_eq!(h.counts.iter().sum::<u64>(), 342);
    assert!((h.edges[0] - 32.1).abs() < 1e-9 && (h.edges[10] - 59.6).abs() < 1e-9);
    // numpy.histogram(bill.dropna(), bins=10)[0]
    assert_eq!(h.counts, vec![9, 40, 57, 48, 49, 55, 61, 16, 5, 2]);
    let species = value_counts(&df, "species", 10).unwrap();
    let got: Vec<_> = species
        .iter()
        .map(|v| (v.value.as_str(), v.count))
        .collect();
    assert_eq!(got, [("Adelie", 152), ("Gentoo", 124), ("Chinstrap", 68)]);
    let s = scatter(
        &df,
        "bill_length_mm",
        "flipper_length_mm",
        Some("species"),
        400,
        &Cancel::new(),
    )
    .unwrap();
    assert_eq!(s.iter().map(|g| g.total).sum::<usize>(), 342);
    let stats = column_stats(&df, &Cancel::new(), &Progress::new()).unwrap();
    let bill = stats.iter().find(|s| s.name == "bill_length_mm").unwrap();
    // pandas describe(): 25% 39.225, 50% 44.45, 75% 48.5
    assert!((bill.q25.unwrap() - 39.225).abs() < 1e-9);
    assert!((bill.median.unwrap() - 44.45).abs() < 1e-9);
    assert!((bill.q75.unwrap() - 48.5).abs() < 1e-9);
}

#[test]
fn demo_workspace_has_digits_and_penguins() {
    let d = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(d.path()).unwrap();
    kiln_core::demo::seed(&mut ws).unwrap();
    let names: Vec<_> = ws
        .datasets()
        .unwrap()
        .into_iter()
        .map(|d| (d.name, d.versions))
        .collect();
    assert_eq!(
        names,
        [("digits".to_owned(), 1), ("penguins".to_owned(), 1)]
    );
    assert_eq!(ws.resolve("penguins").unwrap().row_count, 344);
}
