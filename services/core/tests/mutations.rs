//! The decode/validate path over deterministic mutations of the valid examples (the stable
//! counterpart of `fuzz/`): it never panics, every failure has a class, and a row that lands
//! always has a district from the division table, so no partition path can leave the lake.

use civicpulse_core::decode::decode;
use civicpulse_core::division::DivisionTable;
use civicpulse_core::event::Event;
use civicpulse_core::event::facility::FacilityChange;
use civicpulse_core::event::hotline::HotlineTicket;
use civicpulse_core::event::renovation::RenovationProgress;
use civicpulse_core::normalise::{Normaliser, SourcePosition};
use civicpulse_core::pii::CallerHasher;

/// xorshift: enough randomness for mutations, reproducible without a crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&[u8]] = &[
    b"null",
    b"\"../../etc\"",
    b"\"999999\"",
    b"-1",
    b"1e309",
    b"\"\"",
    b"[]",
    b"{}",
    b"true",
    b"\"2024-13-45T99:99:99Z\"",
    b"\"\xff\xfe\"",
    b"\"110108\"",
    b"\"330103\"",
    b"\"\\u0000\"",
    b"\"2.0\"",
    b"12345678901234567890",
    b"\"GCJ02\"",
    b"\"\xe4\xb8\x87\xe5\x85\x83\"",
];

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(out.len());
        match rng.below(5) {
            0 => out[at] = rng.next() as u8,
            1 => out.truncate(at),
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, token.iter().copied());
            }
            3 => {
                // Replace a JSON value after a colon with a token.
                if let Some(colon) = out[at..].iter().position(|&b| b == b':') {
                    let start = at + colon + 1;
                    let end = out[start..]
                        .iter()
                        .position(|&b| b == b',' || b == b'}')
                        .map_or(out.len(), |e| start + e);
                    let token = TOKENS[rng.below(TOKENS.len())];
                    out.splice(start..end, token.iter().copied());
                }
            }
            _ => {
                let end = (at + rng.below(40)).min(out.len());
                out.drain(at..end);
            }
        }
    }
    out
}

fn run<E: Event>(prefix: &str, rounds: usize, district_of: fn(&E::Row) -> &str) -> (usize, usize) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/examples/valid");
    let bases: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(!bases.is_empty());
    let hasher = CallerHasher::new(b"mutation-key-0123456789").unwrap();
    let ctx = Normaliser::new(DivisionTable::builtin(), Some(hasher));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut landed, mut rejected) = (0, 0);
    for i in 0..rounds {
        let input = mutate(&mut rng, &bases[i % bases.len()]);
        match decode::<E>(&input, 1 << 20, &ctx, SourcePosition::default()) {
            Ok(row) => {
                let district = district_of(&row);
                assert!(ctx.divisions().district(district).is_some(), "{district}");
                landed += 1;
            }
            Err(rejection) => {
                assert!(!rejection.message.is_empty());
                rejected += 1;
            }
        }
    }
    (landed, rejected)
}

#[test]
fn mutated_events_never_panic_and_never_escape_the_division_table() {
    for (name, (landed, rejected)) in [
        (
            "hotline",
            run::<HotlineTicket>("hotline_ticket", 4000, |r| &r.district),
        ),
        (
            "facility",
            run::<FacilityChange>("facility_change", 4000, |r| &r.district),
        ),
        (
            "renovation",
            run::<RenovationProgress>("renovation_progress", 4000, |r| &r.district),
        ),
    ] {
        // Both outcomes occur, so the mutations reach past the parser.
        assert!(
            landed > 100 && rejected > 100,
            "{name}: {landed} landed, {rejected} rejected"
        );
    }
}
