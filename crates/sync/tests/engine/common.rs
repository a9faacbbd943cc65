//! A tenant with one store, an in-memory server and N devices.

use std::sync::Mutex;

use pos_core::demo::{seed_store, Demo};
use pos_core::money::{Currency, Money};
use pos_core::store::{DeviceIdentity, Store};
use pos_sync::device::{SyncEngine, SyncError, SyncReport, Transport, TransportError};
use pos_sync::memory::{MemoryServer, MemoryTransport};
use pos_sync::merge::Scope;
use pos_sync::wire::{
    BootstrapPage, DocSnapshot, PullResponse, PushRequest, PushResponse, ReceiptEmailRequest,
    ReceiptEmailResponse, StaffRecord,
};
use tempfile::TempDir;
use uuid::Uuid;

pub struct Device {
    pub store: Store,
    pub engine: SyncEngine,
    pub scope: Scope,
    /// When false, the device's network is cut.
    pub online: bool,
}

#[allow(dead_code)] // fields kept for tests that need them and to own the temp dir
pub struct Tenant {
    pub server: Mutex<MemoryServer>,
    pub devices: Vec<Device>,
    pub demo: Demo,
    pub store_id: Uuid,
    pub tenant_id: Uuid,
    pub dir: TempDir,
}

pub fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::from_code("EUR").unwrap())
}

pub fn device(dir: &TempDir, tenant_id: Uuid, store_id: Uuid, n: usize) -> Device {
    let device_id = Uuid::now_v7();
    let store = Store::create(
        &dir.path().join(format!("device-{n}.sqlite")),
        DeviceIdentity {
            tenant_id,
            store_id,
            device_id,
            store_code: "S01".into(),
            device_code: format!("T{}", n + 1),
            kind: pos_core::auth::DeviceKind::Till,
        },
    )
    .unwrap();
    Device {
        store,
        engine: SyncEngine::new(),
        scope: Scope {
            tenant_id,
            store_id,
            device_id,
            kind: pos_core::auth::DeviceKind::Till,
        },
        online: true,
    }
}

/// Syncs one device with the server (push, then pull).
pub fn sync(server: &Mutex<MemoryServer>, d: &mut Device) -> Result<SyncReport, SyncError> {
    let mut t = MemoryTransport {
        server,
        scope: d.scope,
        online: d.online,
    };
    d.engine.sync_once(&mut d.store, &mut t)
}

impl Tenant {
    /// A store seeded on device 0 (pushed to the server), then `n - 1` more devices bootstrapped
    /// from the server.
    pub fn new(n: usize) -> Tenant {
        let dir = tempfile::tempdir().unwrap();
        let (tenant_id, store_id) = (Uuid::now_v7(), Uuid::now_v7());
        let mut first = device(&dir, tenant_id, store_id, 0);
        let demo = seed_store(&mut first.store).unwrap();
        let mut server = MemoryServer::new(tenant_id);
        for (id, name, role) in first.store.staff().unwrap() {
            server.add_staff(store_id, id, &name, role, None);
        }
        let server = Mutex::new(server);
        let r = sync(&server, &mut first).unwrap();
        assert!(r.accepted > 0 && r.rejected == 0, "seed pushed: {r:?}");
        let mut devices = vec![first];
        for i in 1..n {
            let mut d = device(&dir, tenant_id, store_id, i);
            let mut t = MemoryTransport {
                server: &server,
                scope: d.scope,
                online: true,
            };
            d.engine.bootstrap(&mut d.store, &mut t, |_, _| {}).unwrap();
            devices.push(d);
        }
        Tenant {
            server,
            devices,
            demo,
            store_id,
            tenant_id,
            dir,
        }
    }

    pub fn sync(&mut self, i: usize) -> Result<SyncReport, SyncError> {
        sync(&self.server, &mut self.devices[i])
    }

    /// Syncs every device until a full round moves nothing.
    pub fn settle(&mut self) {
        for _ in 0..5 {
            let mut moved = 0;
            for i in 0..self.devices.len() {
                if self.devices[i].online {
                    let r = self.sync(i).unwrap();
                    moved += r.pushed + r.pulled;
                }
            }
            if moved == 0 {
                return;
            }
        }
        panic!("devices did not settle in five rounds");
    }

    pub fn digests(&self) -> Vec<String> {
        self.devices
            .iter()
            .map(|d| d.store.projection_digest().unwrap())
            .collect()
    }
}

type PushHook<'a> = Box<dyn FnMut() -> Result<(), TransportError> + Send + 'a>;
type BootstrapHook<'a> = Box<
    dyn FnMut(&mut MemoryTransport<'a>, Option<&str>) -> Result<BootstrapPage, TransportError>
        + Send
        + 'a,
>;

/// The in-memory server's transport with hooks for a test: `before_push` runs before every
/// push (an error fails that push), `bootstrap` replaces the bootstrap call.
pub struct Hooked<'a> {
    pub inner: MemoryTransport<'a>,
    pub before_push: PushHook<'a>,
    pub bootstrap: Option<BootstrapHook<'a>>,
}

impl<'a> Hooked<'a> {
    pub fn new(inner: MemoryTransport<'a>) -> Hooked<'a> {
        Hooked {
            inner,
            before_push: Box::new(|| Ok(())),
            bootstrap: None,
        }
    }
}

impl Transport for Hooked<'_> {
    fn push(&mut self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        (self.before_push)()?;
        self.inner.push(req)
    }
    fn pull(&mut self, cursor: i64, limit: usize) -> Result<PullResponse, TransportError> {
        self.inner.pull(cursor, limit)
    }
    fn document(&mut self, id: Uuid) -> Result<Option<DocSnapshot>, TransportError> {
        self.inner.document(id)
    }
    fn bootstrap(&mut self, page: Option<&str>) -> Result<BootstrapPage, TransportError> {
        match self.bootstrap.as_mut() {
            Some(hook) => hook(&mut self.inner, page),
            None => self.inner.bootstrap(page),
        }
    }
    fn staff(&mut self) -> Result<Vec<StaffRecord>, TransportError> {
        self.inner.staff()
    }
    fn receipt_emails(
        &mut self,
        req: &ReceiptEmailRequest,
    ) -> Result<ReceiptEmailResponse, TransportError> {
        self.inner.receipt_emails(req)
    }
}
