//! Value parsers for arguments several commands share.

use kiln_core::Format;

pub fn parse_format(s: &str) -> Result<Format, String> {
    Format::parse(s)
        .ok_or_else(|| format!("unknown format `{s}` (auto, csv, tsv, parquet, ipc, json, ndjson)"))
}

pub fn parse_char(s: &str) -> Result<char, String> {
    match s {
        "\\t" | "tab" => Ok('\t'),
        _ => {
            let mut it = s.chars();
            match (it.next(), it.next()) {
                (Some(c), None) => Ok(c),
                _ => Err(format!("`{s}` is not a single character")),
            }
        }
    }
}
