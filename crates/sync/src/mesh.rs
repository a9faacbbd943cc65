//! The store mesh's links (ARCHITECTURE.md "Store mesh"): TLS 1.3 between two devices of a
//! store, each authenticated by its ed25519 device key as a raw public key (RFC 7250), and
//! length-prefixed frames on top.
//!
//! **Architecture invariant: nothing on the LAN is trusted because of an address.** A link is
//! up only when both ends presented a key of the store's current peer list ([`PeerSet`],
//! refreshed from the server's `GET /v1/sync/peers`); the link then knows which device is at the
//! other end, and that is the only identity the mesh uses. A key taken off the list (a revoked
//! device) is refused on the next connection.
//!
//! Blocking, like the rest of the device side: one thread per link.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    ring as provider, verify_tls13_signature_with_raw_key, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::{
    CertificateDer, PrivatePkcs8KeyDer, ServerName, SubjectPublicKeyInfoDer, UnixTime,
};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, DistinguishedName, ServerConfig,
    ServerConnection, SignatureScheme, StreamOwned,
};
use uuid::Uuid;

use crate::signing::{DeviceKey, PUBLIC_KEY_LEN};

/// Largest frame a link accepts (a push's largest body).
pub const MAX_FRAME_BYTES: usize = crate::wire::MAX_BODY_BYTES;

/// How long a handshake or a frame may take before the link is dropped.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the key's 32 bytes follow.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// DER prefix of an Ed25519 PKCS#8 v1 private key (RFC 8410): the 32-byte seed follows.
const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    #[error("the device key cannot be used for TLS: {0}")]
    Key(String),
    #[error("i/o with the peer failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the peer is not a device of this store (or is revoked)")]
    UnknownPeer,
    #[error("a frame of {0} bytes is larger than the {MAX_FRAME_BYTES}-byte limit")]
    FrameTooLarge(u64),
    #[error("the peer closed the link in the middle of a frame")]
    Truncated,
}

/// The store's devices a link may be made with, by public key. Shared by a device's listener
/// and its outgoing links, and replaced whole when the server's peer list is refreshed.
#[derive(Debug, Default)]
pub struct PeerSet {
    by_key: RwLock<HashMap<[u8; PUBLIC_KEY_LEN], Uuid>>,
}

impl PeerSet {
    pub fn new(peers: impl IntoIterator<Item = (Uuid, [u8; PUBLIC_KEY_LEN])>) -> Arc<PeerSet> {
        let set = Arc::new(PeerSet::default());
        set.replace(peers);
        set
    }

    /// Replaces the list (the server's fresh `GET /v1/sync/peers`).
    pub fn replace(&self, peers: impl IntoIterator<Item = (Uuid, [u8; PUBLIC_KEY_LEN])>) {
        let map = peers.into_iter().map(|(id, k)| (k, id)).collect();
        if let Ok(mut m) = self.by_key.write() {
            *m = map;
        }
    }

    /// The device whose key `spki` (an Ed25519 SubjectPublicKeyInfo) is, if it is on the list.
    fn device_of(&self, spki: &[u8]) -> Option<Uuid> {
        let key = key_of_spki(spki)?;
        self.by_key.read().ok()?.get(&key).copied()
    }
}

fn key_of_spki(spki: &[u8]) -> Option<[u8; PUBLIC_KEY_LEN]> {
    let rest = spki.strip_prefix(&SPKI_PREFIX[..])?;
    rest.try_into().ok()
}

fn spki_of(key: &[u8; PUBLIC_KEY_LEN]) -> Vec<u8> {
    let mut v = SPKI_PREFIX.to_vec();
    v.extend_from_slice(key);
    v
}

fn certified_key(key: &DeviceKey) -> Result<Arc<CertifiedKey>, MeshError> {
    let mut der = PKCS8_PREFIX.to_vec();
    der.extend_from_slice(&key.secret());
    let signer = provider::sign::any_eddsa_type(&PrivatePkcs8KeyDer::from(der))
        .map_err(|e| MeshError::Key(e.to_string()))?;
    Ok(Arc::new(CertifiedKey::new(
        vec![CertificateDer::from(spki_of(&key.public_key()))],
        signer,
    )))
}

/// The links are TLS 1.3 only: a TLS 1.2 signature is never checked.
fn tls12_refused() -> Result<HandshakeSignatureValid, rustls::Error> {
    Err(rustls::Error::PeerIncompatible(
        rustls::PeerIncompatible::Tls12NotOffered,
    ))
}

fn algorithms() -> WebPkiSupportedAlgorithms {
    provider::default_provider().signature_verification_algorithms
}

/// Checks the other end's raw public key against the peer list, both as client and as server.
#[derive(Debug)]
struct PeerVerifier {
    peers: Arc<PeerSet>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PeerVerifier {
    fn check(&self, end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        self.peers.device_of(end_entity.as_ref()).map(|_| ()).ok_or(
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ),
        )
    }

    fn signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature_with_raw_key(
            message,
            &SubjectPublicKeyInfoDer::from(cert.as_ref()),
            dss,
            &self.algorithms,
        )
    }
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity)
            .map(|_| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        tls12_refused()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}

impl ClientCertVerifier for PeerVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity)
            .map(|_| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        tls12_refused()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}

/// One device's side of the mesh: its key as a TLS identity, and the peers it accepts.
#[derive(Clone)]
pub struct MeshTls {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    peers: Arc<PeerSet>,
}

impl std::fmt::Debug for MeshTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshTls").finish_non_exhaustive()
    }
}

impl MeshTls {
    pub fn new(key: &DeviceKey, peers: Arc<PeerSet>) -> Result<MeshTls, MeshError> {
        let ck = certified_key(key)?;
        let verifier = Arc::new(PeerVerifier {
            peers: peers.clone(),
            algorithms: algorithms(),
        });
        let provider = Arc::new(provider::default_provider());
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| MeshError::Key(e.to_string()))?
            .with_client_cert_verifier(verifier.clone())
            .with_cert_resolver(Arc::new(
                rustls::server::AlwaysResolvesServerRawPublicKeys::new(ck.clone()),
            ));
        let client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| MeshError::Key(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_cert_resolver(Arc::new(
                rustls::client::AlwaysResolvesClientRawPublicKeys::new(ck),
            ));
        Ok(MeshTls {
            server: Arc::new(server),
            client: Arc::new(client),
            peers,
        })
    }

    /// Accepts one link on `listener`: the handshake is completed (or refused) before this
    /// returns, and the link knows its peer's device.
    pub fn accept(&self, listener: &TcpListener) -> Result<Link<ServerConnection>, MeshError> {
        let (tcp, _) = listener.accept()?;
        self.accept_stream(tcp)
    }

    /// [`MeshTls::accept`] on a connection already accepted.
    pub fn accept_stream(&self, tcp: TcpStream) -> Result<Link<ServerConnection>, MeshError> {
        tcp.set_read_timeout(Some(IO_TIMEOUT))?;
        tcp.set_write_timeout(Some(IO_TIMEOUT))?;
        let conn = ServerConnection::new(self.server.clone())
            .map_err(|e| MeshError::Key(e.to_string()))?;
        let mut stream = StreamOwned::new(conn, tcp);
        handshake(&mut stream.conn, &mut stream.sock)?;
        let peer = peer_of(stream.conn.peer_certificates(), &self.peers)?;
        Ok(Link { peer, stream })
    }

    /// Opens a link to the device listening at `addr`.
    pub fn connect(&self, addr: SocketAddr) -> Result<Link<ClientConnection>, MeshError> {
        self.connect_within(addr, IO_TIMEOUT)
    }

    /// [`MeshTls::connect`] giving up after `timeout` for each step (a cashier waits on a
    /// lease: a dead owner must not hold the screen for long).
    pub fn connect_within(
        &self,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<Link<ClientConnection>, MeshError> {
        let tcp = TcpStream::connect_timeout(&addr, timeout)?;
        tcp.set_read_timeout(Some(timeout))?;
        tcp.set_write_timeout(Some(timeout))?;
        // The name is not checked (the key is); any fixed name will do.
        let name = ServerName::try_from("pos-store-peer").expect("a valid DNS name");
        let conn = ClientConnection::new(self.client.clone(), name)
            .map_err(|e| MeshError::Key(e.to_string()))?;
        let mut stream = StreamOwned::new(conn, tcp);
        handshake(&mut stream.conn, &mut stream.sock)?;
        let peer = peer_of(stream.conn.peer_certificates(), &self.peers)?;
        Ok(Link { peer, stream })
    }
}

fn handshake<C, D>(conn: &mut C, sock: &mut TcpStream) -> Result<(), MeshError>
where
    C: std::ops::DerefMut<Target = rustls::ConnectionCommon<D>>,
    D: rustls::SideData,
{
    while conn.is_handshaking() {
        conn.complete_io(sock).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                // rustls reports a refused key as invalid data.
                MeshError::UnknownPeer
            } else {
                MeshError::Io(e)
            }
        })?;
    }
    Ok(())
}

fn peer_of(certs: Option<&[CertificateDer<'static>]>, peers: &PeerSet) -> Result<Uuid, MeshError> {
    certs
        .and_then(|c| c.first())
        .and_then(|c| peers.device_of(c.as_ref()))
        .ok_or(MeshError::UnknownPeer)
}

/// An authenticated link to one peer.
pub struct Link<C> {
    /// The device at the other end, from its key.
    pub peer: Uuid,
    stream: StreamOwned<C, TcpStream>,
}

impl<C, D> Link<C>
where
    C: std::ops::DerefMut<Target = rustls::ConnectionCommon<D>>,
    D: rustls::SideData,
{
    /// Sends one frame: a 4-byte big-endian length, then the bytes.
    pub fn send(&mut self, frame: &[u8]) -> Result<(), MeshError> {
        if frame.len() > MAX_FRAME_BYTES {
            return Err(MeshError::FrameTooLarge(frame.len() as u64));
        }
        self.stream.write_all(&(frame.len() as u32).to_be_bytes())?;
        self.stream.write_all(frame)?;
        self.stream.flush()?;
        Ok(())
    }

    /// The TLS stream under the link, to write raw bytes (a test's cut frame).
    pub fn into_stream(self) -> StreamOwned<C, TcpStream> {
        self.stream
    }

    /// Reads one frame; `None` when the peer closed the link between frames.
    pub fn receive(&mut self) -> Result<Option<Vec<u8>>, MeshError> {
        read_frame(&mut self.stream)
    }
}

/// Reads one length-prefixed frame from `r`; `None` at a clean end between frames.
pub fn read_frame(r: &mut impl Read) -> Result<Option<Vec<u8>>, MeshError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(MeshError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return if got == 0 {
                    Ok(None)
                } else {
                    Err(MeshError::Truncated)
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    let len = u32::from_be_bytes(len) as u64;
    if len > MAX_FRAME_BYTES as u64 {
        return Err(MeshError::FrameTooLarge(len));
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => MeshError::Truncated,
        _ => MeshError::Io(e),
    })?;
    Ok(Some(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dev {
        id: Uuid,
        key: DeviceKey,
    }

    fn dev() -> Dev {
        Dev {
            id: Uuid::now_v7(),
            key: DeviceKey::generate(),
        }
    }

    fn list(devs: &[&Dev]) -> Vec<(Uuid, [u8; PUBLIC_KEY_LEN])> {
        devs.iter().map(|d| (d.id, d.key.public_key())).collect()
    }

    /// A listener on loopback that accepts links until dropped, answering each frame with
    /// its peer's id then the frame; each accept's result goes to the returned channel.
    fn serve(tls: MeshTls) -> (SocketAddr, std::sync::mpsc::Receiver<Result<Uuid, String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || loop {
            match tls.accept(&listener) {
                Ok(mut link) => {
                    let _ = tx.send(Ok(link.peer));
                    while let Ok(Some(frame)) = link.receive() {
                        let mut answer = link.peer.as_bytes().to_vec();
                        answer.extend_from_slice(&frame);
                        if link.send(&answer).is_err() {
                            break;
                        }
                    }
                }
                Err(e) => {
                    if tx.send(Err(e.to_string())).is_err() {
                        return;
                    }
                }
            }
        });
        (addr, rx)
    }

    #[test]
    fn two_devices_of_the_store_link_and_each_knows_the_other() {
        let (a, b) = (dev(), dev());
        let server = MeshTls::new(&a.key, PeerSet::new(list(&[&b]))).unwrap();
        let client = MeshTls::new(&b.key, PeerSet::new(list(&[&a]))).unwrap();
        let (addr, accepted) = serve(server);
        let mut link = client.connect(addr).unwrap();
        assert_eq!(link.peer, a.id);
        assert_eq!(accepted.recv().unwrap(), Ok(b.id));
        link.send(b"ticket").unwrap();
        let answer = link.receive().unwrap().unwrap();
        assert_eq!(&answer[..16], b.id.as_bytes());
        assert_eq!(&answer[16..], b"ticket");
    }

    #[test]
    fn a_device_not_on_the_list_is_refused_and_honest_peers_carry_on() {
        let (a, b, stranger) = (dev(), dev(), dev());
        let server = MeshTls::new(&a.key, PeerSet::new(list(&[&b]))).unwrap();
        let (addr, accepted) = serve(server);
        // The stranger knows the server's key (it is not secret); the server does not know its.
        let forged = MeshTls::new(&stranger.key, PeerSet::new(list(&[&a]))).unwrap();
        let refused = forged.connect(addr).and_then(|mut l| {
            // TLS 1.3: the client may finish before the server's refusal arrives.
            l.send(b"x")?;
            l.receive()
        });
        assert!(refused.is_err(), "{refused:?}");
        assert!(accepted.recv().unwrap().is_err());
        let honest = MeshTls::new(&b.key, PeerSet::new(list(&[&a]))).unwrap();
        let mut link = honest.connect(addr).unwrap();
        link.send(b"still here").unwrap();
        assert!(link.receive().unwrap().is_some());
    }

    #[test]
    fn a_server_with_a_key_off_the_list_is_refused_by_the_client() {
        let (a, b, impostor) = (dev(), dev(), dev());
        // The impostor listens where a peer is expected and accepts anyone.
        let server = MeshTls::new(&impostor.key, PeerSet::new(list(&[&b]))).unwrap();
        let (addr, _accepted) = serve(server);
        let client = MeshTls::new(&b.key, PeerSet::new(list(&[&a]))).unwrap();
        assert!(matches!(
            client.connect(addr),
            Err(MeshError::UnknownPeer) | Err(MeshError::Io(_))
        ));
    }

    #[test]
    fn a_revoked_device_is_refused_on_its_next_link() {
        let (a, b) = (dev(), dev());
        let peers = PeerSet::new(list(&[&b]));
        let server = MeshTls::new(&a.key, peers.clone()).unwrap();
        let (addr, accepted) = serve(server);
        let client = MeshTls::new(&b.key, PeerSet::new(list(&[&a]))).unwrap();
        client.connect(addr).unwrap();
        assert_eq!(accepted.recv().unwrap(), Ok(b.id));
        peers.replace([]);
        let refused = client.connect(addr).and_then(|mut l| {
            l.send(b"x")?;
            l.receive()
        });
        assert!(refused.is_err(), "{refused:?}");
        assert!(accepted.recv().unwrap().is_err());
    }

    #[test]
    fn frames_too_large_or_cut_short_are_typed_errors() {
        let mut big = Vec::new();
        big.extend_from_slice(&((MAX_FRAME_BYTES as u32) + 1).to_be_bytes());
        assert!(matches!(
            read_frame(&mut big.as_slice()),
            Err(MeshError::FrameTooLarge(n)) if n == MAX_FRAME_BYTES as u64 + 1
        ));
        let mut cut = Vec::new();
        cut.extend_from_slice(&10u32.to_be_bytes());
        cut.extend_from_slice(b"abc");
        assert!(matches!(
            read_frame(&mut cut.as_slice()),
            Err(MeshError::Truncated)
        ));
        assert!(matches!(
            read_frame(&mut [0u8, 0].as_slice()),
            Err(MeshError::Truncated)
        ));
        assert!(matches!(read_frame(&mut [].as_slice()), Ok(None)));
        let mut ok = 3u32.to_be_bytes().to_vec();
        ok.extend_from_slice(b"abc");
        assert_eq!(read_frame(&mut ok.as_slice()).unwrap().unwrap(), b"abc");
    }
}
