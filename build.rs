//! Generates the table of HTTP status code strings ("100".."599") used as metric labels,
//! so labelling a response never allocates.
use std::{env, fs, path::Path};

fn main() {
    let mut table = String::from("const STATUS_TEXT: [&str; 500] = [");
    for code in 100..600 {
        table.push_str(&format!("\"{code}\","));
    }
    table.push_str("];\n");
    let out = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("status_text.rs");
    fs::write(out, table).expect("writing into OUT_DIR");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=migrations");
}
