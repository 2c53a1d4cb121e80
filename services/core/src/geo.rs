//! Coordinate systems used by Chinese map services and their conversion to WGS84.
//!
//! GCJ-02 (Amap, Tencent) is WGS84 with a published, deterministic obfuscation applied inside
//! China; BD-09 (Baidu) is a further rotation of GCJ-02. CGCS2000 differs from WGS84 by
//! centimetres and is taken as WGS84.

use std::f64::consts::PI;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The coordinate system of a raw longitude/latitude pair (`coord_sys_raw`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum CoordSys {
    /// GPS coordinates.
    #[serde(rename = "WGS84")]
    Wgs84,
    /// China Geodetic Coordinate System 2000 (centimetres from WGS84).
    #[serde(rename = "CGCS2000")]
    Cgcs2000,
    /// "Mars coordinates" of Amap and Tencent maps.
    #[serde(rename = "GCJ02")]
    Gcj02,
    /// Baidu map coordinates.
    #[serde(rename = "BD09")]
    Bd09,
}

impl CoordSys {
    /// The name as written in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wgs84 => "WGS84",
            Self::Cgcs2000 => "CGCS2000",
            Self::Gcj02 => "GCJ02",
            Self::Bd09 => "BD09",
        }
    }
}

/// Whether `(lng, lat)` is a finite point on the globe.
pub fn valid_lng_lat(lng: f64, lat: f64) -> bool {
    lng.is_finite()
        && lat.is_finite()
        && (-180.0..=180.0).contains(&lng)
        && (-90.0..=90.0).contains(&lat)
}

/// Converts a point in `sys` to WGS84 (inverse GCJ-02 to better than 1e-7 degrees).
pub fn to_wgs84(sys: CoordSys, lng: f64, lat: f64) -> (f64, f64) {
    match sys {
        CoordSys::Wgs84 | CoordSys::Cgcs2000 => (lng, lat),
        CoordSys::Gcj02 => gcj02_to_wgs84(lng, lat),
        CoordSys::Bd09 => {
            let (lng, lat) = bd09_to_gcj02(lng, lat);
            gcj02_to_wgs84(lng, lat)
        }
    }
}

const AXIS: f64 = 6_378_245.0;
const ECCENTRICITY_SQ: f64 = 0.006_693_421_622_965_943;
const BD_FACTOR: f64 = PI * 3000.0 / 180.0;

fn outside_china(lng: f64, lat: f64) -> bool {
    !(72.004..=137.8347).contains(&lng) || !(0.8293..=55.8271).contains(&lat)
}

fn transform_lat(x: f64, y: f64) -> f64 {
    let mut r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    r
}

fn transform_lng(x: f64, y: f64) -> f64 {
    let mut r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    r
}

/// WGS84 to GCJ-02 (identity outside China).
pub fn wgs84_to_gcj02(lng: f64, lat: f64) -> (f64, f64) {
    if outside_china(lng, lat) {
        return (lng, lat);
    }
    let d_lat = transform_lat(lng - 105.0, lat - 35.0);
    let d_lng = transform_lng(lng - 105.0, lat - 35.0);
    let rad_lat = lat / 180.0 * PI;
    let magic = 1.0 - ECCENTRICITY_SQ * rad_lat.sin().powi(2);
    let sqrt_magic = magic.sqrt();
    let d_lat = (d_lat * 180.0) / ((AXIS * (1.0 - ECCENTRICITY_SQ)) / (magic * sqrt_magic) * PI);
    let d_lng = (d_lng * 180.0) / (AXIS / sqrt_magic * rad_lat.cos() * PI);
    (lng + d_lng, lat + d_lat)
}

/// GCJ-02 to WGS84 by fixed-point iteration of the forward transform.
fn gcj02_to_wgs84(lng: f64, lat: f64) -> (f64, f64) {
    let (mut x, mut y) = (lng, lat);
    for _ in 0..30 {
        let (gx, gy) = wgs84_to_gcj02(x, y);
        let (dx, dy) = (gx - lng, gy - lat);
        x -= dx;
        y -= dy;
        if dx.abs() < 1e-10 && dy.abs() < 1e-10 {
            break;
        }
    }
    (x, y)
}

/// GCJ-02 to BD-09.
pub fn gcj02_to_bd09(lng: f64, lat: f64) -> (f64, f64) {
    let z = (lng * lng + lat * lat).sqrt() + 0.00002 * (lat * BD_FACTOR).sin();
    let theta = lat.atan2(lng) + 0.000003 * (lng * BD_FACTOR).cos();
    (z * theta.cos() + 0.0065, z * theta.sin() + 0.006)
}

fn bd09_to_gcj02(lng: f64, lat: f64) -> (f64, f64) {
    let (x, y) = (lng - 0.0065, lat - 0.006);
    let z = (x * x + y * y).sqrt() - 0.00002 * (y * BD_FACTOR).sin();
    let theta = y.atan2(x) - 0.000003 * (x * BD_FACTOR).cos();
    (z * theta.cos(), z * theta.sin())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcj02_offset_is_hundreds_of_metres_and_inverts() {
        // Tiananmen: GCJ-02 moves it ~ 0.006° east, 0.0014° north.
        let (lng, lat) = (116.391_275, 39.907_42);
        let (glng, glat) = wgs84_to_gcj02(lng, lat);
        assert!((glng - lng) > 0.005 && (glng - lng) < 0.008, "{glng}");
        assert!((glat - lat) > 0.0005 && (glat - lat) < 0.003, "{glat}");
        let (wlng, wlat) = to_wgs84(CoordSys::Gcj02, glng, glat);
        assert!((wlng - lng).abs() < 1e-7 && (wlat - lat).abs() < 1e-7);
        let (blng, blat) = gcj02_to_bd09(glng, glat);
        let (wlng, wlat) = to_wgs84(CoordSys::Bd09, blng, blat);
        assert!((wlng - lng).abs() < 1e-6 && (wlat - lat).abs() < 1e-6);
    }

    #[test]
    fn outside_china_and_invalid_points() {
        assert_eq!(wgs84_to_gcj02(2.35, 48.85), (2.35, 48.85));
        assert!(!valid_lng_lat(f64::NAN, 39.9));
        assert!(!valid_lng_lat(116.0, 91.0));
        assert!(valid_lng_lat(116.0, 39.9));
    }
}
