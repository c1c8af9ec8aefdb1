//! Rebuild when migrations change, so the embedded migrations stay current.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
