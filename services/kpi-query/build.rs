//! The catalogue is compiled in from `sql/` (`include_dir!`, which stable Rust cannot track):
//! rebuild kpi-query whenever a file there changes.
fn main() {
    println!("cargo:rerun-if-changed=../../sql");
}
