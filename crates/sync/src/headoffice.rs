//! A small client of the admin API (`/v1/admin`), for head-office tools, the demo and the
//! end-to-end tests: log in, create a tenant and stores, staff with PINs, enrolment codes, and
//! publish catalog items. Devices never use it.

use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::device::TransportError;
use crate::wire::ErrorBody;

/// A logged-in head-office user.
pub struct HeadOffice {
    server: String,
    token: String,
    agent: ureq::Agent,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into()
}

fn answer(mut resp: ureq::http::Response<ureq::Body>) -> Result<Value, TransportError> {
    let status = resp.status().as_u16();
    let body: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let message = serde_json::from_value::<ErrorBody>(body)
        .map(|b| format!("{}: {}", b.error.code, b.error.message))
        .unwrap_or_else(|_| format!("http {status}"));
    Err(if status == 401 || status == 403 {
        TransportError::Unauthorized(message)
    } else {
        TransportError::Server { status, message }
    })
}

fn id(v: &Value, key: &str) -> Result<Uuid, TransportError> {
    v[key]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| TransportError::Protocol(format!("answer has no {key}: {v}")))
}

impl HeadOffice {
    /// Logs in with email and password.
    pub fn login(server: &str, email: &str, password: &str) -> Result<HeadOffice, TransportError> {
        let server = server.trim_end_matches('/').to_string();
        let a = agent();
        let v = answer(
            a.post(&format!("{server}/v1/auth/login"))
                .send_json(json!({"email": email, "password": password}))
                .map_err(|e| TransportError::Unreachable(e.to_string()))?,
        )?;
        let token = v["access_token"]
            .as_str()
            .ok_or_else(|| TransportError::Protocol("no access token".into()))?
            .to_string();
        Ok(HeadOffice {
            server,
            token,
            agent: a,
        })
    }

    /// POSTs `body` to an admin path and returns the answer.
    pub fn post(&self, path: &str, body: Value) -> Result<Value, TransportError> {
        answer(
            self.agent
                .post(&format!("{}{path}", self.server))
                .header("authorization", &format!("Bearer {}", self.token))
                .send_json(body)
                .map_err(|e| TransportError::Unreachable(e.to_string()))?,
        )
    }

    /// PUTs `body` to an admin path and returns the answer.
    pub fn put(&self, path: &str, body: Value) -> Result<Value, TransportError> {
        answer(
            self.agent
                .put(&format!("{}{path}", self.server))
                .header("authorization", &format!("Bearer {}", self.token))
                .send_json(body)
                .map_err(|e| TransportError::Unreachable(e.to_string()))?,
        )
    }

    /// GETs an admin path.
    pub fn get(&self, path: &str) -> Result<Value, TransportError> {
        answer(
            self.agent
                .get(&format!("{}{path}", self.server))
                .header("authorization", &format!("Bearer {}", self.token))
                .call()
                .map_err(|e| TransportError::Unreachable(e.to_string()))?,
        )
    }

    /// Creates a tenant with its owner (platform superadmin only). Returns the tenant id.
    pub fn create_tenant(
        &self,
        name: &str,
        owner_email: &str,
        owner_password: &str,
    ) -> Result<Uuid, TransportError> {
        let v = self.post(
            "/v1/admin/tenants",
            json!({"name": name, "owner_email": owner_email, "owner_name": "Owner", "owner_password": owner_password}),
        )?;
        id(&v, "tenant_id")
    }

    /// Creates a store with its settings. `settings` is a JSON object as the admin API takes it
    /// (`code`, `name`, `currency`, `tax_mode`, `tax_rates`, ...). Returns the store id.
    pub fn create_store(&self, settings: Value) -> Result<Uuid, TransportError> {
        let v = self.post("/v1/admin/stores", settings)?;
        id(&v, "store_id")
    }

    /// Creates a staff member with a role in a store and a PIN. Returns the user id.
    pub fn create_staff(
        &self,
        store: Uuid,
        name: &str,
        role: &str,
        pin: &str,
    ) -> Result<Uuid, TransportError> {
        let user = id(
            &self.post("/v1/admin/users", json!({"name": name}))?,
            "user_id",
        )?;
        self.post(
            &format!("/v1/admin/users/{user}/memberships"),
            json!({"store_id": store, "role": role}),
        )?;
        self.put(&format!("/v1/admin/users/{user}/pin"), json!({"pin": pin}))?;
        Ok(user)
    }

    /// Issues a one-time enrolment code for a store.
    pub fn enrolment_code(&self, store: Uuid) -> Result<String, TransportError> {
        self.enrolment_code_for(store, pos_core::auth::DeviceKind::Till)
    }

    /// A one-time code that enrols a device of `kind` (a till, or a kitchen screen that acts
    /// with the kitchen role's rights whoever logs in on it).
    pub fn enrolment_code_for(
        &self,
        store: Uuid,
        kind: pos_core::auth::DeviceKind,
    ) -> Result<String, TransportError> {
        let v = self.post(
            &format!("/v1/admin/stores/{store}/enrolment-codes"),
            json!({ "kind": kind }),
        )?;
        v["code"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| TransportError::Protocol("no code".into()))
    }

    /// Publishes a catalog item to the tenant's stores. `item` is a JSON object as the admin
    /// API takes it. Returns the item's id.
    pub fn publish_item(&self, item: Value) -> Result<Uuid, TransportError> {
        let v = self.post("/v1/admin/items", item)?;
        id(&v, "doc_id")
    }
}
