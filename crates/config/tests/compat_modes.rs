//! Compatibility-mode lines: `#!KAMAILIO`/`#!OPENSER` and `#!MAXCOMPAT`/`#!ALL` load; `#!SER` is refused
//! at its line (golden `compat_ser`).

use ferrosip_config::{load_text, Host, LoadOptions};

struct NoFiles;

impl Host for NoFiles {
    fn read_file(&self, _path: &str) -> std::io::Result<Vec<u8>> {
        Err(std::io::Error::from(std::io::ErrorKind::NotFound))
    }
    fn env(&self, _name: &str) -> Option<String> {
        None
    }
}

#[test]
fn compat_mode_lines() {
    let opts = LoadOptions::default();
    for (mode, ok) in [
        ("KAMAILIO", true),
        ("OPENSER", true),
        ("MAXCOMPAT", true),
        ("ALL", true),
        ("SER", false),
    ] {
        let text = format!("#!{mode}\nrequest_route {{\n  exit;\n}}\n");
        let got = load_text("m.cfg", text, &opts, &NoFiles).is_ok();
        assert_eq!(got, ok, "#!{mode}");
    }
}
