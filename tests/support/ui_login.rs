//! Logging in to the dashboard the way a browser without JavaScript does: fetch the
//! login form (its nonce cookie and hidden field), post the token with the nonce, keep
//! the session cookie. Shared by the dashboard tests and `benches/dashboard.rs`.

/// The value of the cookie `name` that `resp` sets, if it sets one with a value.
pub fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (k, val) = v.split(';').next()?.split_once('=')?;
            (k == name && !val.is_empty()).then(|| val.to_owned())
        })
}

/// Logs in at `base` (`http://127.0.0.1:PORT`) with `token` through the login form, on
/// a client that follows no redirects; returns the session cookie's value, or what went
/// wrong.
pub async fn login(http: &reqwest::Client, base: &str, token: &str) -> Result<String, String> {
    let url = format!("{base}/ui/login");
    let form = http.get(&url).send().await.map_err(|e| e.to_string())?;
    let nonce_cookie = set_cookie(&form, "homelabd_login").ok_or("no login cookie")?;
    let page = form.text().await.map_err(|e| e.to_string())?;
    let nonce = page
        .split("name=\"login\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or("no login nonce in the form")?
        .to_owned();
    let resp = http
        .post(&url)
        .header("Cookie", format!("homelabd_login={nonce_cookie}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        // Tokens here and the nonce are letters, digits and hyphens: nothing to encode.
        .body(format!("token={token}&login={nonce}"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if resp.status() != 303 {
        return Err(format!("login answered {}", resp.status()));
    }
    set_cookie(&resp, "homelabd_session").ok_or_else(|| "no session cookie".to_owned())
}
