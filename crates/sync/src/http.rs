//! The device's HTTP side: enrolment, device tokens, the [`Transport`] over the `/v1` API, and
//! the live channel (a WebSocket that only says "there is more").
//!
//! Blocking on purpose: the engine runs on its own thread, and a blocking client keeps the
//! device free of an async runtime it would not otherwise need.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::device::{Transport, TransportError};
use crate::wire::{
    BootstrapPage, DeviceTokenRequest, DocSnapshot, EnrolRequest, EnrolResponse, ErrorBody,
    IncomingTransfer, LiveMessage, PeerRecord, PullResponse, PushRequest, PushResponse,
    ReceiptEmailRequest, ReceiptEmailResponse, RefusalsPage, StaffRecord, StoreInfo, TokenResponse,
};

/// What a device keeps after enrolment to talk to its server. The secret is never logged.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCredential {
    /// `http://host:port`, without a trailing slash.
    pub server: String,
    pub device_id: Uuid,
    pub device_secret: String,
    /// The device's ed25519 secret key (base64), made at enrolment; its public half is
    /// registered with the device. Absent in credentials of earlier releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_key: Option<String>,
}

impl DeviceCredential {
    /// The device's signing key, if it has one (`None` for a credential without a key, or with
    /// one that does not decode: the device then signs nothing, and only its own pushes carry
    /// its changes).
    pub fn signing_key(&self) -> Option<crate::signing::DeviceKey> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(self.device_key.as_deref()?)
            .ok()?;
        crate::signing::DeviceKey::from_secret(&bytes).ok()
    }
}

impl std::fmt::Debug for DeviceCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCredential")
            .field("server", &self.server)
            .field("device_id", &self.device_id)
            .field("device_secret", &"<redacted>")
            .field(
                "device_key",
                &self.device_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

const BODY_LIMIT: u64 = 256 * 1024 * 1024;

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .timeout_connect(Some(Duration::from_secs(3)))
        .http_status_as_error(false)
        .build()
        .into()
}

fn transport_err(e: ureq::Error) -> TransportError {
    TransportError::Unreachable(e.to_string())
}

fn read<T: DeserializeOwned>(
    mut resp: ureq::http::Response<ureq::Body>,
) -> Result<T, TransportError> {
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return resp
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_json()
            .map_err(|e| TransportError::Protocol(e.to_string()));
    }
    let message = resp
        .body_mut()
        .read_json::<ErrorBody>()
        .map(|b| format!("{}: {}", b.error.code, b.error.message))
        .unwrap_or_else(|_| format!("http {status}"));
    if status == 401 || status == 403 {
        Err(TransportError::Unauthorized(message))
    } else {
        Err(TransportError::Server { status, message })
    }
}

fn normalise(server: &str) -> String {
    server.trim().trim_end_matches('/').to_string()
}

/// Enrols this device with a one-time code a manager issued.
pub fn enrol(
    server: &str,
    code: &str,
    name: &str,
) -> Result<(EnrolResponse, DeviceCredential), TransportError> {
    use base64::Engine;
    let server = normalise(server);
    let key = crate::signing::DeviceKey::generate();
    let resp = agent(Duration::from_secs(10))
        .post(&format!("{server}/v1/devices/enrol"))
        .send_json(&EnrolRequest {
            code: code.trim().to_string(),
            name: name.to_string(),
            public_key: Some(key.public_key().to_vec()),
        })
        .map_err(transport_err)?;
    let e: EnrolResponse = read(resp)?;
    let cred = DeviceCredential {
        server,
        device_id: e.device_id,
        device_secret: e.device_secret.clone(),
        device_key: Some(base64::engine::general_purpose::STANDARD.encode(key.secret())),
    };
    Ok((e, cred))
}

/// The [`Transport`] over HTTP, with the device's access token refreshed when it expires.
pub struct HttpTransport {
    cred: DeviceCredential,
    agent: ureq::Agent,
    token: Option<String>,
}

impl HttpTransport {
    pub fn new(cred: DeviceCredential) -> HttpTransport {
        HttpTransport {
            cred,
            agent: agent(Duration::from_secs(30)),
            token: None,
        }
    }

    /// A fresh access token for this device.
    pub fn token(&mut self) -> Result<String, TransportError> {
        if let Some(t) = &self.token {
            return Ok(t.clone());
        }
        let resp = self
            .agent
            .post(&format!("{}/v1/devices/token", self.cred.server))
            .send_json(&DeviceTokenRequest {
                device_id: self.cred.device_id,
                device_secret: self.cred.device_secret.clone(),
            })
            .map_err(transport_err)?;
        let t: TokenResponse = read(resp)?;
        self.token = Some(t.access_token.clone());
        Ok(t.access_token)
    }

    /// Runs a request with the token; on 401 gets a new token once and tries again.
    fn call<T: DeserializeOwned>(
        &mut self,
        f: impl Fn(&ureq::Agent, &str, &str) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T, TransportError> {
        for attempt in 0..2 {
            let token = self.token()?;
            let resp = f(&self.agent, &self.cred.server, &token).map_err(transport_err)?;
            match read(resp) {
                Err(TransportError::Unauthorized(_)) if attempt == 0 => self.token = None,
                other => return other,
            }
        }
        Err(TransportError::Unauthorized("token refused twice".into()))
    }

    pub fn credential(&self) -> &DeviceCredential {
        &self.cred
    }

    /// The stores of the device's tenant (online only: where stock can be sent).
    pub fn stores(&mut self) -> Result<Vec<StoreInfo>, TransportError> {
        self.call(|a, s, t| {
            a.get(&format!("{s}/v1/sync/stores"))
                .header("authorization", &format!("Bearer {t}"))
                .call()
        })
    }

    /// Transfers other stores sent to this one that it has not received yet (online only).
    pub fn incoming_transfers(&mut self) -> Result<Vec<IncomingTransfer>, TransportError> {
        self.call(|a, s, t| {
            a.get(&format!("{s}/v1/sync/transfers/incoming"))
                .header("authorization", &format!("Bearer {t}"))
                .call()
        })
    }
}

impl Transport for HttpTransport {
    fn peers(&mut self) -> Result<Option<Vec<PeerRecord>>, TransportError> {
        self.call(|a, s, t| {
            a.get(&format!("{s}/v1/sync/peers"))
                .header("authorization", &format!("Bearer {t}"))
                .call()
        })
        .map(Some)
    }

    fn refusals(&mut self, after: i64) -> Result<Option<RefusalsPage>, TransportError> {
        match self.call(|a, s, t| {
            a.get(&format!("{s}/v1/sync/refusals?after={after}"))
                .header("authorization", &format!("Bearer {t}"))
                .call()
        }) {
            Ok(p) => Ok(Some(p)),
            // A server of an earlier release has no notices to give.
            Err(TransportError::Server { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn push(&mut self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        self.call(|a, s, t| {
            a.post(&format!("{s}/v1/sync/push"))
                .header("authorization", &format!("Bearer {t}"))
                .send_json(req)
        })
    }

    fn pull(&mut self, cursor: i64, limit: usize) -> Result<PullResponse, TransportError> {
        self.call(|a, s, t| {
            a.get(&format!("{s}/v1/sync/pull?cursor={cursor}&limit={limit}"))
                .header("authorization", &format!("Bearer {t}"))
                .call()
        })
    }

    fn document(&mut self, doc_id: Uuid) -> Result<Option<DocSnapshot>, TransportError> {
        match self.call(|a, s, t| {
            a.get(&format!("{s}/v1/sync/doc/{doc_id}"))
                .header("authorization", &format!("Bearer {t}"))
                .call()
        }) {
            Ok(d) => Ok(Some(d)),
            Err(TransportError::Server { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn bootstrap(&mut self, page: Option<&str>) -> Result<BootstrapPage, TransportError> {
        let q = page.map(|p| format!("?page={p}")).unwrap_or_default();
        self.call(|a, s, t| {
            a.get(&format!("{s}/v1/sync/bootstrap{q}"))
                .header("authorization", &format!("Bearer {t}"))
                .call()
        })
    }

    fn staff(&mut self) -> Result<Vec<StaffRecord>, TransportError> {
        self.call(|a, s, t| {
            a.get(&format!("{s}/v1/sync/staff"))
                .header("authorization", &format!("Bearer {t}"))
                .call()
        })
    }

    fn entitlements(&mut self) -> Result<pos_core::modules::Entitlements, TransportError> {
        self.call(|a, s, t| {
            a.get(&format!("{s}/v1/sync/entitlements"))
                .header("authorization", &format!("Bearer {t}"))
                .call()
        })
    }

    fn receipt_emails(
        &mut self,
        req: &ReceiptEmailRequest,
    ) -> Result<ReceiptEmailResponse, TransportError> {
        self.call(|a, s, t| {
            a.post(&format!("{s}/v1/sync/receipt-emails"))
                .header("authorization", &format!("Bearer {t}"))
                .send_json(req)
        })
    }
}

/// Listens on the live channel and sends the announced sequence to `more` each time the server
/// says there is more to pull. Reconnects with a backoff until `stop` is set. Runs on its own
/// thread; returns its handle.
pub fn listen_live(
    cred: DeviceCredential,
    more: Sender<i64>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut http = HttpTransport::new(cred.clone());
        let mut backoff = Duration::from_millis(200);
        while !stop.load(Ordering::Relaxed) {
            let connected = (|| -> Result<(), String> {
                let token = http.token().map_err(|e| e.to_string())?;
                use tungstenite::client::IntoClientRequest;
                let url = format!("{}/v1/sync/live", cred.server.replacen("http", "ws", 1));
                // The token goes in a header, never in the URL (URLs end up in logs).
                let mut req = url.into_client_request().map_err(|e| e.to_string())?;
                let auth = format!("Bearer {token}")
                    .parse()
                    .map_err(|_| "token is not a valid header value".to_string())?;
                req.headers_mut().insert("authorization", auth);
                let (mut ws, _) = tungstenite::connect(req).map_err(|e| e.to_string())?;
                if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_mut() {
                    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                }
                // The first message may already be waiting; after connecting, pull once anyway.
                let _ = more.send(0);
                loop {
                    if stop.load(Ordering::Relaxed) {
                        let _ = ws.close(None);
                        return Ok(());
                    }
                    match ws.read() {
                        Ok(tungstenite::Message::Text(t)) => {
                            if let Ok(LiveMessage::More { seq }) = serde_json::from_str(t.as_str())
                            {
                                if more.send(seq).is_err() {
                                    return Ok(());
                                }
                            }
                        }
                        Ok(_) => {}
                        Err(tungstenite::Error::Io(e))
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(e) => return Err(e.to_string()),
                    }
                }
            })();
            if connected.is_err() {
                http = HttpTransport::new(cred.clone());
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(10));
            } else {
                backoff = Duration::from_millis(200);
            }
        }
    })
}
