//! Annual targets: what a district (or the city) set out to reach on a KPI in a year.

use std::path::Path;

use serde::Deserialize;

use crate::ReportError;

/// One target.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Target {
    /// Calendar year.
    pub year: i32,
    /// District or city code.
    pub district: String,
    /// KPI id (`K13`).
    pub kpi: String,
    /// The figure to reach: a year's total for flows, the level at year end for stocks.
    pub value: f64,
    /// Where the target comes from.
    #[serde(default)]
    pub source: String,
}

#[derive(Debug, Deserialize)]
struct TargetsFile {
    #[serde(default)]
    target: Vec<Target>,
}

/// The targets of a targets file.
#[derive(Debug, Clone, Default)]
pub struct Targets(Vec<Target>);

impl Targets {
    /// Reads `[[target]]` tables from `path`.
    pub fn load(path: &Path) -> Result<Self, ReportError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ReportError::Input(format!("targets file {}: {e}", path.display())))?;
        Self::parse(&text)
            .map_err(|e| ReportError::Input(format!("targets file {}: {e}", path.display())))
    }

    /// Parses the TOML text of a targets file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: TargetsFile = toml::from_str(text).map_err(|e| e.to_string())?;
        for t in &file.target {
            if t.district.len() != 6 || !t.district.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "target district {:?} is not a six-digit code",
                    t.district
                ));
            }
            if !t.value.is_finite() || t.value <= 0.0 {
                return Err(format!(
                    "target {} {} {}: value must be positive",
                    t.year, t.district, t.kpi
                ));
            }
        }
        Ok(Self(file.target))
    }

    /// The target of `district` on `kpi` in `year`.
    pub fn get(&self, year: i32, district: &str, kpi: &str) -> Option<&Target> {
        self.0
            .iter()
            .find(|t| t.year == year && t.district == district && t.kpi.eq_ignore_ascii_case(kpi))
    }

    /// KPIs with any target in `year`.
    pub fn kpis(&self, year: i32) -> Vec<String> {
        let mut ids: Vec<String> = self
            .0
            .iter()
            .filter(|t| t.year == year)
            .map(|t| t.kpi.to_ascii_uppercase())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deploy_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/targets.toml");
        let targets = Targets::load(&path).unwrap();
        assert_eq!(targets.get(2024, "110108", "K13").unwrap().value, 280.0);
        assert_eq!(targets.get(2024, "110108", "K04").unwrap().value, 4334.0);
        assert!(targets.kpis(2024).contains(&"K13".to_owned()));
        assert!(
            Targets::parse(
                "[[target]]\nyear = 2024\ndistrict = \"../x\"\nkpi = \"K13\"\nvalue = 1\n"
            )
            .is_err()
        );
    }
}
