//! The proxy half of the egress listener: `CONNECT host:port` tunnels and
//! plain-HTTP forwarding (absolute-form requests), each to an allowed
//! destination only, dialled at the address the policy checked. Redirects
//! are passed back to the client, never followed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::{HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::JobEgress;
use super::policy::{Refusal, Target, normalize_host};
use crate::gateway::{BoxError, ResponseBody};
use crate::jobs::JobEvent;

const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Request headers a proxy must not pass on (hop-by-hop).
const HOP_BY_HOP: &[&str] =
    &["proxy-authorization", "proxy-connection", "connection", "keep-alive", "te", "trailer", "upgrade"];

fn text(status: StatusCode, body: String) -> Response<ResponseBody> {
    let mut resp = Response::new(crate::gateway::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

/// A record of one decision, completed when the connection ends.
pub(crate) struct Decision {
    job: Arc<JobEgress>,
    method: String,
    host: String,
    port: u16,
    address: Option<String>,
    refusal: Option<String>,
    pub(crate) up: Arc<AtomicU64>,
    pub(crate) down: Arc<AtomicU64>,
    started: Instant,
}

impl Decision {
    fn new(job: &Arc<JobEgress>, method: &str, host: &str, port: u16) -> Decision {
        Decision {
            job: Arc::clone(job),
            method: method.to_owned(),
            host: host.to_owned(),
            port,
            address: None,
            refusal: None,
            up: Arc::default(),
            down: Arc::default(),
            started: Instant::now(),
        }
    }
}

impl Drop for Decision {
    fn drop(&mut self) {
        if self.refusal.is_some() {
            self.job.note_refused(&self.host);
        }
        let ev = JobEvent::Egress {
            method: self.method.clone(),
            host: self.host.clone(),
            port: self.port,
            address: self.address.clone(),
            allowed: self.refusal.is_none(),
            reason: self.refusal.clone(),
            bytes_up: self.up.load(Ordering::Relaxed),
            bytes_down: self.down.load(Ordering::Relaxed),
            duration_ms: self.started.elapsed().as_millis() as u64,
        };
        let _ = self.job.events.try_send(ev);
    }
}

fn refuse(mut d: Decision, why: &Refusal) -> Response<ResponseBody> {
    if let Refusal::Address { addr, .. } = why {
        d.address = Some(addr.to_string());
    }
    d.refusal = Some(why.to_string());
    let body = format!("maxion egress: {}:{} refused: {why}\n", d.host, d.port);
    text(StatusCode::FORBIDDEN, body)
}

async fn dial(d: &mut Decision, target: Target) -> Result<TcpStream, Response<ResponseBody>> {
    d.address = Some(target.addr.to_string());
    match tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(target.addr)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => {
            d.refusal = Some(format!("connecting to {} failed: {e}", target.addr));
            Err(text(StatusCode::BAD_GATEWAY, format!("maxion egress: cannot connect to {}: {e}\n", d.host)))
        }
        Err(_) => {
            d.refusal = Some(format!("connecting to {} timed out", target.addr));
            Err(text(StatusCode::GATEWAY_TIMEOUT, format!("maxion egress: {} did not answer\n", d.host)))
        }
    }
}

/// `CONNECT host:port`: checks, dials, answers 200 and splices the bytes.
pub(crate) async fn connect(job: Arc<JobEgress>, req: Request<Incoming>) -> Response<ResponseBody> {
    let Some(authority) = req.uri().authority().cloned() else {
        return text(StatusCode::BAD_REQUEST, "maxion egress: CONNECT needs host:port\n".into());
    };
    let host = normalize_host(authority.host());
    let port = authority.port_u16().unwrap_or(443);
    let mut d = Decision::new(&job, "CONNECT", &host, port);
    let target = match job.policy.check(&host, port).await {
        Ok(t) => t,
        Err(why) => return refuse(d, &why),
    };
    let upstream = match dial(&mut d, target).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(req).await else { return };
        let mut client = TokioIo::new(upgraded);
        let mut upstream = upstream;
        if let Ok((up, down)) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            d.up.store(up, Ordering::Relaxed);
            d.down.store(down, Ordering::Relaxed);
        }
        drop(d);
    });
    Response::new(crate::gateway::full(""))
}

/// An absolute-form `http://` request: checks, dials, forwards over a
/// connection of its own and streams the answer back.
pub(crate) async fn forward(job: Arc<JobEgress>, req: Request<Incoming>) -> Response<ResponseBody> {
    let uri = req.uri().clone();
    if uri.scheme_str() != Some("http") {
        return text(
            StatusCode::BAD_REQUEST,
            "maxion egress: only http:// is forwarded; use CONNECT for https\n".into(),
        );
    }
    let Some(authority) = uri.authority().cloned() else {
        return text(StatusCode::BAD_REQUEST, "maxion egress: absolute URL needed\n".into());
    };
    let host = normalize_host(authority.host());
    let port = authority.port_u16().unwrap_or(80);
    let mut d = Decision::new(&job, req.method().as_str(), &host, port);
    let target = match job.policy.check(&host, port).await {
        Ok(t) => t,
        Err(why) => return refuse(d, &why),
    };
    let stream = match dial(&mut d, target).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
        Ok(x) => x,
        Err(e) => {
            d.refusal = Some(format!("HTTP handshake failed: {e}"));
            return text(StatusCode::BAD_GATEWAY, format!("maxion egress: {host}: {e}\n"));
        }
    };
    tokio::spawn(conn);
    let (mut parts, body) = req.into_parts();
    parts.uri = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").parse::<Uri>().unwrap_or_default();
    for h in HOP_BY_HOP {
        parts.headers.remove(*h);
    }
    if !parts.headers.contains_key(header::HOST)
        && let Ok(v) = HeaderValue::from_str(authority.as_str())
    {
        parts.headers.insert(header::HOST, v);
    }
    let up = Arc::clone(&d.up);
    let body = body.map_frame(move |f| {
        if let Some(b) = f.data_ref() {
            up.fetch_add(b.len() as u64, Ordering::Relaxed);
        }
        f
    });
    let resp = match sender.send_request(Request::from_parts(parts, body)).await {
        Ok(r) => r,
        Err(e) => {
            d.refusal = Some(format!("forwarding failed: {e}"));
            return text(StatusCode::BAD_GATEWAY, format!("maxion egress: {host}: {e}\n"));
        }
    };
    let (parts, body) = resp.into_parts();
    let down = Arc::clone(&d.down);
    // The decision is recorded when the answer's body is done (or dropped).
    let body = body
        .map_frame(move |f| {
            let _keep = &d;
            if let Some(b) = f.data_ref() {
                down.fetch_add(b.len() as u64, Ordering::Relaxed);
            }
            f
        })
        .map_err(|e| -> BoxError { Box::new(e) })
        .boxed_unsync();
    Response::from_parts(parts, body)
}

/// Whether a request is for the proxy (CONNECT or an absolute URL).
pub(crate) fn is_proxy_request(method: &Method, uri: &Uri) -> bool {
    *method == Method::CONNECT || uri.scheme().is_some()
}
