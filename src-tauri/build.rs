fn main() {
    // The built UI is embedded in the binary: a new build of it must rebuild
    // the app, or a stale UI ships.
    println!("cargo:rerun-if-changed=../ui/dist");
    tauri_build::build();
}
