//! Fuzz the kamailio.cfg front end: preprocessor + lexer + parser (`load_text`), the `--cfg-print`
//! scanner and the `-l` address parser, on arbitrary bytes. The input is split at the first NUL byte:
//! the part before is the main config, the part after is served as the file `inc.cfg` (so
//! `include_file "inc.cfg"` reaches a second fuzzer-controlled text); `ENVVAR` is the only environment
//! variable. Nothing may panic, hang or read outside the in-memory host.
#![no_main]

use ferrosip_config::{cfg_print, load_text, parse_listen_arg, Host, LoadOptions};

struct MemHost<'a> {
    main: &'a str,
    inc: &'a str,
}

impl Host for MemHost<'_> {
    fn read_file(&self, path: &str) -> std::io::Result<Vec<u8>> {
        match path {
            "main.cfg" => Ok(self.main.as_bytes().to_vec()),
            "inc.cfg" => Ok(self.inc.as_bytes().to_vec()),
            _ => Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")),
        }
    }
    fn env(&self, name: &str) -> Option<String> {
        (name == "ENVVAR").then(|| "value".to_string())
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (main, inc) = match text.split_once('\0') {
        Some((m, i)) => (m, i),
        None => (&*text, ""),
    };
    let host = MemHost { main, inc };
    let opts = LoadOptions {
        defines: vec!["WITH_FUZZ".into(), "VAL=1".into()],
        ..LoadOptions::default()
    };
    match load_text("main.cfg", main.to_string(), &opts, &host) {
        Ok(l) => {
            let _ = l.config.global_params().count();
            let _ = l.config.loadmodules();
        }
        Err(f) => {
            // Rendering must work for every diagnostic (spans always inside the source map).
            let _ = f.render();
        }
    }
    if let Err(f) = cfg_print("main.cfg", &opts, &host) {
        let _ = f.render();
    }
    if let Some(first) = main.lines().next() {
        let _ = parse_listen_arg(first);
    }
});
