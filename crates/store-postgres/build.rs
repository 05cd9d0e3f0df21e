// `sqlx::migrate!` embeds the migrations at compile time; without this, a
// migration added to the folder would not rebuild the crate.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
