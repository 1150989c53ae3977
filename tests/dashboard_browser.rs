//! The dashboard in a real browser: Debian's `chromium`, headless,
//! driven over WebDriver by its `chromedriver`, loads the page from a
//! running node with a miner attached; the page's script reads the API
//! and applies the event stream, and the test waits (polling the DOM, no
//! fixed sleeps) until the pool, chart data and a found block show, then
//! until an event moves the share chain's height on. Skips, saying so,
//! where chromium or chromedriver is not installed (CI installs both).
//!
//! WebDriver rather than `--dump-dom`: an open event stream is a network
//! fetch that never ends, and chromium's virtual time waits for those.

mod common;

use common::{serve_api, stop_api, MiningNode};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chiral_pool::core::identity::Keypair;
use chiral_pool::node::NodeEvent;
use serde_json::{json, Value};

/// Debian's paths, or `CHROMIUM` and `CHROMEDRIVER` if set.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let find = |var: &str, default: &str| {
        let path = std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(default));
        path.exists().then_some(path)
    };
    Some((
        find("CHROMIUM", "/usr/bin/chromium")?,
        find("CHROMEDRIVER", "/usr/bin/chromedriver")?,
    ))
}

/// A chromedriver process, killed when dropped.
struct Driver {
    child: Child,
    base: String,
    http: reqwest::Client,
    session: Option<String>,
    /// The browser's profile directory, removed when dropped.
    profile: Option<PathBuf>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(profile) = &self.profile {
            let _ = std::fs::remove_dir_all(profile);
        }
    }
}

impl Driver {
    async fn start(driver: &PathBuf) -> Driver {
        // A free loopback port for the driver (it takes no port 0).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let d = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            session: None,
            profile: None,
        };
        // Poll its status until it answers ready.
        let ready = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if let Ok(r) = d.http.get(format!("{}/status", d.base)).send().await {
                    if let Ok(v) = r.json::<Value>().await {
                        if v["value"]["ready"] == true {
                            return;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        assert!(ready.is_ok(), "chromedriver answered");
        d
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("chromedriver answered");
        let status = response.status();
        let value: Value = response.json().await.expect("JSON");
        assert!(status.is_success(), "{path}: {value}");
        value["value"].clone()
    }

    async fn open(&mut self, chromium: &PathBuf, url: &str) {
        let profile = std::env::temp_dir().join(format!(
            "chiral-chromium-{}",
            &Keypair::generate().public().to_hex()[..12]
        ));
        let capabilities = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1600",
                format!("--user-data-dir={}", profile.display()),
            ],
        }}}});
        self.profile = Some(profile);
        let session = self
            .call(reqwest::Method::POST, "/session", capabilities)
            .await;
        let id = session["sessionId"].as_str().expect("a session").to_owned();
        self.session = Some(id);
        self.call(
            reqwest::Method::POST,
            &self.path("/url"),
            json!({"url": url}),
        )
        .await;
    }

    fn path(&self, tail: &str) -> String {
        format!(
            "/session/{}{tail}",
            self.session.as_deref().unwrap_or_default()
        )
    }

    /// Runs `script` in the page and returns its value.
    async fn eval(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            &self.path("/execute/sync"),
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// Polls `script` until it returns true (or `limit` passes).
    async fn wait_for(&self, script: &str, limit: Duration) -> bool {
        tokio::time::timeout(limit, async {
            while self.eval(script).await != true {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await
        .is_ok()
    }

    async fn close(&mut self) {
        if self.session.is_some() {
            self.call(reqwest::Method::DELETE, &self.path(""), json!({}))
                .await;
            self.session = None;
        }
    }
}

/// The markup of the element whose `id` is `id`, up to its table's end.
fn table<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the DOM"));
    let rest = &dom[start..];
    &rest[..rest.find("</table>").unwrap_or(rest.len())]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_pools_chart_and_blocks_in_chromium() {
    let Some((chromium, chromedriver)) = browser() else {
        // CI installs them and sets this: there a skip is a failure.
        assert!(
            std::env::var_os("CHIRAL_REQUIRE_BROWSER").is_none(),
            "CHIRAL_REQUIRE_BROWSER is set but chromium or chromedriver is missing"
        );
        eprintln!(
            "skipped: chromium or chromedriver is not installed (apt-get install chromium chromium-driver)"
        );
        return;
    };
    let mut fixture = MiningNode::start("browser-test", "browser-miner").await;
    let node = fixture.node.clone();
    let miner_address = fixture.miner_address.clone();
    let pool = node.pool().expect("a pool");

    let api = serve_api(node.clone(), |_| {}).await;
    let addr = api.addr();

    // A miner that keeps mining while the page loads: links and samples
    // keep coming on the event stream. The page needs a settled block and
    // a hashrate sample.
    fixture.mine();
    let settled = fixture.wait_for(|e| matches!(e, NodeEvent::Block(_))).await;
    let sampled = !node.watch.history().is_empty()
        || fixture
            .wait_for(|e| matches!(e, NodeEvent::Hashrate(_)))
            .await;
    assert!(settled && sampled, "a block was settled and a sample taken");

    let url = format!("http://{addr}/");
    let mut driver = Driver::start(&chromedriver).await;
    driver.open(&chromium, &url).await;
    let limit = Duration::from_secs(30);
    // The snapshot: the pool with its badge, chart points, a block row.
    let snapshot = "return document.querySelectorAll('#blocks tbody tr').length > 0 \
        && document.querySelector('#pools .badge') !== null \
        && Number(document.getElementById('chart').dataset.points) > 0";
    let loaded = driver.wait_for(snapshot, limit).await;
    let dom = driver
        .eval("return document.documentElement.outerHTML")
        .await;
    let dom = dom.as_str().unwrap_or_default().to_owned();
    // Live: an event moves the shown height past the snapshot's.
    let shown: u64 = driver
        .eval("return document.getElementById('chain-height').textContent")
        .await
        .as_str()
        .and_then(|h| h.parse().ok())
        .expect("a height is shown");
    // The stream's own link events, not a later snapshot, must be seen:
    // the page counts them.
    let moved = driver
        .wait_for(
            &format!(
                "return Number(document.body.dataset.linkEvents || 0) > 0 \
                 && Number(document.getElementById('chain-height').textContent) > {shown}"
            ),
            limit,
        )
        .await;
    driver.close().await;
    drop(driver);
    fixture.stop_miner().await;
    let _ = stop_api(api, Duration::from_secs(10)).await;
    node.shutdown().await;

    assert!(loaded, "the snapshot showed: {dom}");
    assert!(!dom.contains("API unreachable"), "the API answered: {dom}");
    let pools = table(&dom, "pools");
    assert!(
        pools.contains(&pool.to_hex()),
        "the pool is listed: {pools}"
    );
    assert!(pools.contains(">P2P<"), "with its P2P badge: {pools}");
    assert!(dom.contains("<polyline id=\"chart-line\" points=\""));
    let blocks = table(&dom, "blocks");
    assert!(
        blocks.contains(&miner_address[..8]),
        "with its finder: {blocks}"
    );
    let links = table(&dom, "links");
    assert!(links.contains(&miner_address[..8]), "recent links: {links}");
    assert!(
        moved,
        "an event moved the share chain's height past {shown}"
    );
}
