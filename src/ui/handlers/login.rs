//! Logins and logouts: the login form (with its double-submit token), sessions kept in
//! the store and checked against the token they were made with, the CSRF check of every
//! POST, and the audit rows of logins and logouts.

use super::*;

impl Ui {
    /// The session the request's cookie names, if it is alive and its token still
    /// exists (its idle clock restarted when `used`); a 503 page when the store cannot
    /// say.
    pub(super) async fn session(
        &self,
        headers: &HeaderMap,
        used: bool,
    ) -> Result<Option<(String, Session)>, Box<Response>> {
        let Some(id) = cookie(headers, session::COOKIE) else {
            return Ok(None);
        };
        Ok(self.session_by_id(&id, used).await?.map(|s| (id, s)))
    }

    /// The session whose cookie value is `id`; see [`Ui::session`].
    pub(super) async fn session_by_id(
        &self,
        id: &str,
        used: bool,
    ) -> Result<Option<Session>, Box<Response>> {
        let store = self.store()?;
        let digest = session::digest(id);
        let unavailable = |e: &StoreError| {
            tracing::warn!(error = %e, "dashboard: session not read");
            Box::new(self.starting_page(None).unwrap_or_else(|| {
                self.message_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Database unavailable",
                    "The database did not answer; this page shows again once it does.",
                    None,
                )
            }))
        };
        let record = match store.ui_session(&digest).await {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(None),
            Err(e) => return Err(unavailable(&e)),
        };
        let now = chrono::Utc::now();
        let caller = session::caller(&record).filter(|c| {
            self.guard.still_holds(c, |token| {
                session::same_secret(&session::binding(token, id), &record.binding)
            })
        });
        let Some(caller) = caller.filter(|_| session::alive(&record, now, self.settings.idle_ttl))
        else {
            // Expired, or its token was changed or removed: forget it.
            if let Err(e) = store.end_ui_session(&digest, None, None).await {
                tracing::warn!(error = %e, "dashboard: ended session not deleted");
            }
            return Ok(None);
        };
        if used
            && session::needs_touch(&record, now)
            && let Err(e) = store.touch_ui_session(&digest, now).await
        {
            tracing::warn!(error = %e, "dashboard: session use not recorded");
        }
        let csrf = session::csrf(id);
        Ok(Some(Session { caller, csrf }))
    }
}

pub(super) async fn login_page(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    // Before the loop has migrated a new database, a login could not be kept (a
    // restarted daemon's database is ready at once: its sessions table answers).
    if let Some(starting) = ui.starting_page(None)
        && let Some(store) = ui.store.as_deref()
        && store.ui_session("").await.is_err()
    {
        return starting;
    }
    if let Ok(Some(_)) = ui.session(&headers, false).await {
        return Redirect::to("/ui/").into_response();
    }
    login_form(&ui, StatusCode::OK, None)
}

fn login_form(ui: &Ui, status: StatusCode, error: Option<&str>) -> Response {
    let nonce = session::random_token();
    let ctx = json!({"page": "login", "title": "Log in", "login": nonce, "error": error});
    let mut response = ui.page("login.html", &ctx);
    *response.status_mut() = status;
    let cookie = session::set_cookie(
        LOGIN_COOKIE,
        &nonce,
        "/ui/login",
        ui.settings.secure_cookies,
        Duration::from_secs(3600),
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    login: String,
}

pub(super) async fn login(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<LoginForm>,
) -> Response {
    if cross_site(&headers) {
        return forbidden(&ui, "A login from another site is refused.", None);
    }
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !session::same_secret(&expected, &form.login) {
        return login_form(
            &ui,
            StatusCode::FORBIDDEN,
            Some("The login form expired; try again."),
        );
    }
    let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let authorization = format!("Bearer {}", form.token.trim());
    match ui.guard.authenticate(peer, Some(authorization.as_bytes())) {
        Ok(caller) => {
            let store = store_or!(ui);
            let id = session::random_token();
            let record = session::record(
                &id,
                &caller,
                form.token.trim(),
                chrono::Utc::now(),
                ui.settings.session_ttl,
            );
            let audit = ui_audit(&caller, "ui.login");
            if let Err(e) = store
                .create_ui_session(&record, session::MAX_SESSIONS, &audit, peer.map(|p| p.ip()))
                .await
            {
                tracing::warn!(error = %e, "dashboard login not recorded");
                return ui.starting_page(Some("/ui/login")).unwrap_or_else(|| {
                    ui.message_page(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Database unavailable",
                        "The database did not answer, so the login could not be kept; try again once it does.",
                        None,
                    )
                });
            }
            tracing::info!(token = %caller.name, scope = caller.scope.as_str(), client = ?peer.map(|p| p.ip()), "dashboard login");
            let mut response = Redirect::to("/ui/").into_response();
            let h = response.headers_mut();
            for cookie in [
                session::set_cookie(
                    session::COOKIE,
                    &id,
                    "/",
                    ui.settings.secure_cookies,
                    ui.settings.session_ttl,
                ),
                session::set_cookie(
                    LOGIN_COOKIE,
                    "",
                    "/ui/login",
                    ui.settings.secure_cookies,
                    Duration::ZERO,
                ),
            ] {
                if let Ok(v) = HeaderValue::from_str(&cookie) {
                    h.append(header::SET_COOKIE, v);
                }
            }
            response
        }
        Err(Refusal::Throttled(wait)) => {
            tracing::warn!(client = ?peer.map(|p| p.ip()), "dashboard login refused: too many failed authentications from this address");
            too_many_requests(wait, "too many failed logins from this address")
        }
        Err(Refusal::Auth(e)) => {
            tracing::info!(reason = %e, client = ?peer.map(|p| p.ip()), "dashboard login refused");
            let shown = match e {
                crate::mcp::auth::AuthError::NoTokens => {
                    "No MCP token is configured on this daemon, so nobody can log in."
                }
                _ => "That token is not valid.",
            };
            login_form(&ui, StatusCode::UNAUTHORIZED, Some(shown))
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// The audit row of a login or logout by `caller` (the client's address goes in the
/// row's `client_addr`, as for `/mcp` calls).
fn ui_audit(caller: &crate::mcp::auth::Caller, action: &str) -> AuditRecord {
    AuditRecord {
        at: chrono::Utc::now(),
        actor: format!("ui:{}", caller.name),
        action: action.to_owned(),
        subject: caller.name.clone(),
        details: json!({"scope": caller.scope.as_str()}),
    }
}

/// The session of a POST whose CSRF token matches, or the refusal to send.
pub(super) async fn checked_post(
    ui: &Ui,
    headers: &HeaderMap,
    form: &CsrfForm,
) -> Result<(String, Session), Box<Response>> {
    if cross_site(headers) {
        return Err(Box::new(forbidden(
            ui,
            "A request from another site is refused.",
            None,
        )));
    }
    let Some((id, s)) = ui.session(headers, true).await? else {
        return Err(Box::new(to_login()));
    };
    if form.csrf.is_empty() || !session::same_secret(&form.csrf, &s.csrf) {
        tracing::warn!(token = %s.caller.name, "dashboard POST refused: missing or wrong CSRF token");
        return Err(Box::new(forbidden(
            ui,
            "The form's CSRF token is missing or wrong; reload the page and try again.",
            Some(&s),
        )));
    }
    Ok((id, s))
}

pub(super) async fn logout(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (id, s) = match checked_post(&ui, &headers, &form).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let store = store_or!(ui);
    let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let audit = ui_audit(&s.caller, "ui.logout");
    if let Err(e) = store
        .end_ui_session(&session::digest(&id), Some(&audit), peer.map(|p| p.ip()))
        .await
    {
        return ui.store_failed(&e, &s);
    }
    tracing::info!(token = %s.caller.name, "dashboard logout");
    let mut response = Redirect::to("/ui/login").into_response();
    let cookie = session::set_cookie(
        session::COOKIE,
        "",
        "/",
        ui.settings.secure_cookies,
        Duration::ZERO,
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dashboard of a daemon whose loop has said `status` about the database, over an
    /// empty SQLite file nobody migrated.
    async fn dashboard(status: Arc<DaemonStatus>) -> (Arc<Ui>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let raw = crate::config::RawConfig::parse("", "test").unwrap();
        let overrides = crate::config::Overrides {
            repo: Some("https://git.example.invalid/homelab.git".into()),
            state_dir: Some(dir.path().to_owned()),
            database_url: Some(format!(
                "sqlite://{}",
                dir.path().join("homelabd.db").display()
            )),
            ..Default::default()
        };
        let settings = crate::config::Settings::resolve(raw, &overrides).unwrap();
        let store = Store::connect(&settings.database_url).await.unwrap();
        let guard = Arc::new(Guard::new(&settings.mcp));
        let ui = Ui::new(
            &settings,
            None,
            Some(Arc::new(store)),
            status,
            guard,
            CancellationToken::new(),
        )
        .unwrap();
        (Arc::new(ui), dir)
    }

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn before_the_database_is_ready_pages_say_the_daemon_is_starting_and_reload() {
        let status = Arc::new(DaemonStatus::default());
        let (ui, _dir) = dashboard(Arc::clone(&status)).await;
        let starting = login_page(State(Arc::clone(&ui)), HeaderMap::new()).await;
        assert_eq!(starting.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(starting.headers()[header::RETRY_AFTER], "2");
        let page = body(starting).await;
        assert!(page.contains("The daemon is starting"), "{page}");
        assert!(
            page.contains("<meta http-equiv=\"refresh\" content=\"2\">"),
            "{page}"
        );

        // A page asked with a session cookie reads the (not yet migrated) store.
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("homelabd_session=abc"),
        );
        let page = match ui.session(&headers, false).await {
            Err(response) => body(*response).await,
            Ok(_) => panic!("an unmigrated store has no sessions to read"),
        };
        assert!(page.contains("The daemon is starting"), "{page}");

        // Once the loop failed to reach the database, that is what pages say.
        status.update(|s| s.db_error = Some("connection refused".into()));
        let page = match ui.session(&headers, false).await {
            Err(response) => body(*response).await,
            Ok(_) => panic!("an unmigrated store has no sessions to read"),
        };
        assert!(page.contains("Database unavailable"), "{page}");

        // A database migrated before (a restart) takes logins before the loop reached it.
        status.update(|s| s.db_error = None);
        ui.store.as_deref().unwrap().migrate().await.unwrap();
        let form = login_page(State(Arc::clone(&ui)), HeaderMap::new()).await;
        assert_eq!(form.status(), StatusCode::OK);
        assert!(body(form).await.contains("name=\"token\""));
    }
}
