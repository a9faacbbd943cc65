// Hides the console window of a Windows release build; does nothing elsewhere.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    std::process::exit(pos_desktop::main_entry());
}
