//! Headless Chromium for the HTML report: the page as the browser built it, what it said on
//! its console, and a screenshot.

use std::path::Path;
use std::process::Command;

pub struct Rendered {
    /// The DOM after rendering.
    pub dom: String,
    /// Console messages and uncaught errors, one per line as Chromium logs them.
    pub console: Vec<String>,
    /// The screenshot, RGBA.
    pixels: Vec<u8>,
}

impl Rendered {
    /// How many pixels of the screenshot are exactly `rgb`.
    pub fn pixels_of(&self, rgb: [u8; 3]) -> usize {
        self.pixels
            .chunks_exact(4)
            .filter(|p| p[..3] == rgb)
            .count()
    }
}

/// Headless Chromium, when it is installed.
fn chromium() -> Option<Command> {
    let Some(binary) = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok())
    else {
        return crate::helpers::missing(
            "headless Chromium is needed to check the HTML report: \
             apt-get install chromium (.ci/run installs it)",
        );
    };
    let mut command = Command::new(binary);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ]);
    Some(command)
}

/// Renders `page` twice: once for its DOM, once for a 1000x3000 screenshot with the console
/// logged. `None` when Chromium is missing (the test skips, or fails in CI).
pub fn render(page: &Path) -> Option<Rendered> {
    let url = format!("file://{}", page.display());
    let profile = tempfile::tempdir().unwrap();
    let dom = chromium()?
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    let shot = profile.path().join("shot.png");
    let logged = chromium()?
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args([
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1000,3000",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap();
    let console = String::from_utf8_lossy(&logged.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    let mut decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&shot).expect("Chromium wrote the screenshot"),
    ));
    decoder.set_transformations(png::Transformations::ALPHA | png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    pixels.truncate(info.buffer_size());
    assert_eq!(info.color_type, png::ColorType::Rgba, "decoded as RGBA");
    Some(Rendered {
        dom: String::from_utf8_lossy(&dom.stdout).into_owned(),
        console,
        pixels,
    })
}
