"""Drives the dashboard of a running homelabd daemon in headless Chromium (Selenium).

Run by tests/dashboard_browser.rs with one argument: a JSON file with
  url           the daemon's base URL (http://127.0.0.1:PORT)
  read_token    a read-scope MCP token
  propose_token a propose-scope MCP token
  repo          the tracked repository (a commit is made there while the overview is open)
  resource      a manual-apply Docker resource to apply from its page
  first_commit  the commit the daemon reconciled first
  screenshots   a directory for one PNG per page
Prints one line per step; exits non-zero with the reason on the first failure.
"""

import http.server
import json
import os
import subprocess
import sys
import threading
import time

from selenium import webdriver
from selenium.common.exceptions import (
    NoAlertPresentException,
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

CFG = json.load(open(sys.argv[1]))
BASE = CFG["url"]
SHOTS = CFG["screenshots"]


def step(text):
    print(f"ok: {text}", flush=True)


def fail(text):
    print(f"FAILED: {text}", flush=True)
    sys.exit(1)


def check(cond, text):
    if not cond:
        fail(text)
    step(text)


def browser(width=1200, height=900, phone=False):
    options = webdriver.ChromeOptions()
    if phone:
        # A desktop window cannot be as narrow as a phone; emulate one (the viewport meta
        # tag is honoured only then).
        options.add_experimental_option(
            "mobileEmulation", {"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0}})
    options.binary_location = CFG.get("chromium", "/usr/bin/chromium")
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--force-prefers-reduced-motion"] + ([] if phone else [f"--window-size={width},{height}"]):
        options.add_argument(arg)
    service = Service(executable_path=CFG.get("chromedriver", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    return driver


def wait(driver, secs=15):
    # Live regions are replaced when the daemon reports a change: an element found a
    # moment ago may be gone; the next poll finds the new one.
    return WebDriverWait(driver, secs, poll_frequency=0.1,
                         ignored_exceptions=[StaleElementReferenceException, NoSuchElementException])


def shot(driver, name):
    os.makedirs(SHOTS, exist_ok=True)
    driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


def text_of(driver, css):
    # A live update may replace the element between finding and reading it: read the
    # new one then.
    for _ in range(10):
        try:
            return driver.find_element(By.CSS_SELECTOR, css).text
        except StaleElementReferenceException:
            time.sleep(0.1)
    return driver.find_element(By.CSS_SELECTOR, css).text


def no_alert(driver):
    try:
        driver.switch_to.alert
        return False
    except NoAlertPresentException:
        return True


def login(driver, token):
    driver.get(BASE + "/ui/login")
    field = driver.find_element(By.ID, "token")
    field.clear()
    field.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


def post(driver, path, fields):
    """A POST from the page itself (same origin, the session cookie goes along)."""
    return driver.execute_async_script(
        """
        const [path, fields, done] = arguments;
        fetch(path, {method: 'POST', body: new URLSearchParams(fields), redirect: 'manual',
                     credentials: 'same-origin'})
          .then(r => done(r.type === 'opaqueredirect' ? 303 : r.status))
          .catch(e => done(String(e)));
        """,
        path,
        fields,
    )


def csrf_of(driver):
    return driver.find_element(By.CSS_SELECTOR, "form.logout input[name=csrf]").get_attribute("value")


def logout(driver):
    driver.find_element(By.CSS_SELECTOR, "form.logout button").click()
    wait(driver).until(EC.url_contains("/ui/login"))


class Forger(http.server.BaseHTTPRequestHandler):
    """Another site: its page posts a form to the daemon as soon as it loads."""

    target = ""

    def do_GET(self):
        body = f"""<!doctype html><html><body>
<form id="f" method="post" action="{self.target}"><input name="csrf" value="guess"></form>
<script>document.getElementById('f').submit();</script></body></html>""".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def forge(driver, target):
    Forger.target = target
    server = http.server.HTTPServer(("127.0.0.1", 0), Forger)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # "localhost" is another site than 127.0.0.1 for the browser's cookies.
    driver.get(f"http://localhost:{server.server_port}/")
    time.sleep(1.5)
    server.shutdown()
    return driver.current_url, driver.page_source


def main():
    driver = browser()
    try:
        # Without a session every page goes to the login page.
        for path in ["/ui/", "/ui/resources", "/ui/pools", "/ui/audit", "/ui/resources/" + CFG["resource"]]:
            driver.get(BASE + path)
            check(driver.current_url.endswith("/ui/login"), f"{path} without a session redirects to the login page")
        check(CFG["resource"] not in driver.page_source, "the login page shows no data")
        shot(driver, "login")

        login(driver, "wrong-token-0000000000")
        wait(driver).until(EC.presence_of_element_located((By.CSS_SELECTOR, "p.error")))
        check("not valid" in text_of(driver, "p.error") and "/ui/login" in driver.current_url,
              "a wrong token is refused on the login page")

        login(driver, CFG["read_token"])
        wait(driver).until(EC.presence_of_element_located((By.ID, "revision")))
        check(driver.current_url.endswith("/ui/"), "a read token logs in to the overview")
        wait(driver).until(lambda d: text_of(d, "#live-state") == "live")
        step("the overview is connected for live updates")
        check(text_of(driver, "#revision") == CFG["first_commit"][:12], "the overview shows the tracked revision")
        message = text_of(driver, "#commit-message")
        check("<script>" in message, "the hostile commit message is shown as text")
        check(no_alert(driver) and len(driver.find_elements(By.CSS_SELECTOR, "main script")) == 0,
              "the hostile commit message runs nothing")
        check(len(driver.find_elements(By.XPATH, "//button[normalize-space()='Reconcile now']")) == 0,
              "read scope sees no reconcile button")
        shot(driver, "overview")

        pages = [("Resources", "resources"), ("Pools", "pools"), ("Proposals", "proposals"),
                 ("Audit", "audit"), ("Notifications", "notifications"), ("Overview", "overview")]
        for label, name in pages:
            driver.find_element(By.XPATH, f"//nav//a[normalize-space()='{label}']").click()
            wait(driver).until(lambda d: d.find_element(By.CSS_SELECTOR, "body").get_attribute("data-page") == name)
            current = driver.find_element(By.CSS_SELECTOR, "nav a[aria-current=page]").text
            check(current == label, f"the {label} page opens from the navigation")
            if name != "overview":
                shot(driver, name)

        # Pools: bookable vCPUs count the example's cpu_overcommit (2 on /homelab/compute,
        # inherited by its children), and the GPU nodes list their GPUs.
        driver.get(BASE + "/ui/pools")
        pools = text_of(driver, "#pools")
        check("CPU overcommit ×2" in pools, "the pools page names the CPU overcommit")
        check("threads)" in pools, "bookable vCPUs are threads times the overcommit")
        check("GPUs" in pools and "free" in pools, "the GPU nodes list their GPUs")

        # Proposals and previews: a previewed pull request, with its link and outcome.
        driver.get(BASE + "/ui/proposals")
        row = driver.find_element(By.CSS_SELECTOR, "#previews tbody tr")
        link = row.find_element(By.LINK_TEXT, "#7")
        check(link.get_attribute("href") == "https://github.com/example/homelab/pull/7" and "valid" in row.text,
              "the proposals page lists the pull-request preview with its link and status")
        shot(driver, "proposals")

        # Filters on the resources page run on the server.
        driver.get(BASE + "/ui/resources")
        driver.find_element(By.NAME, "q").send_keys(CFG["resource"])
        driver.find_element(By.CSS_SELECTOR, "form.filters button").click()
        wait(driver).until(EC.url_contains("q="))
        rows = driver.find_elements(By.CSS_SELECTOR, "#resources tbody tr")
        check(len(rows) == 1 and CFG["resource"] in rows[0].text, "the text filter finds the resource")

        driver.find_element(By.LINK_TEXT, CFG["resource"]).click()
        wait(driver).until(EC.presence_of_element_located((By.ID, "runs")))
        check(len(driver.find_elements(By.ID, "apply-now")) == 0, "read scope sees no apply button")
        check("manual" in driver.page_source, "the resource page shows its manual policy")
        # A forged POST with this read session: refused even with the right CSRF token.
        token = csrf_of(driver)
        status = post(driver, f"/ui/resources/{CFG['resource']}/apply", {"csrf": token})
        check(status == 403, f"a read session's POST to apply is refused ({status})")
        logout(driver)
        driver.get(BASE + "/ui/")
        check(driver.current_url.endswith("/ui/login"), "after logout the overview redirects to the login page")

        login(driver, CFG["propose_token"])
        wait(driver).until(EC.presence_of_element_located((By.ID, "revision")))
        check(len(driver.find_elements(By.XPATH, "//button[normalize-space()='Reconcile now']")) == 1,
              "propose scope sees the reconcile button")
        # CSRF: without a token and with a wrong one, nothing is queued.
        for fields, what in [({}, "without"), ({"csrf": "0" * 64}, "with a wrong")]:
            status = post(driver, "/ui/reconcile", fields)
            check(status == 403, f"a POST {what} CSRF token is refused ({status})")
        # From another site, the browser keeps the session cookie to itself.
        url, page = forge(driver, f"{BASE}/ui/resources/{CFG['resource']}/apply")
        check("/ui/resources/" not in url or "requested" not in url, f"a cross-site form post queues nothing ({url})")
        check("requested (#" not in page, "the forged post shows no request")

        # A commit pushed while the overview is open shows without a reload.
        driver.get(BASE + "/ui/")
        wait(driver).until(lambda d: text_of(d, "#live-state") == "live")
        driver.execute_script("window.__notReloaded = true;")
        with open(os.path.join(CFG["repo"], "definitions", "note.yaml"), "w") as f:
            f.write("# a comment-only file\n")
        env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
                   GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid")
        subprocess.run(["git", "add", "-A"], cwd=CFG["repo"], check=True, env=env)
        subprocess.run(["git", "commit", "-qm", "Second commit: a note"], cwd=CFG["repo"], check=True, env=env)
        second = subprocess.run(["git", "rev-parse", "HEAD"], cwd=CFG["repo"], check=True, env=env,
                                capture_output=True, text=True).stdout.strip()
        try:
            wait(driver, 20).until(lambda d: text_of(d, "#revision") == second[:12])
        except TimeoutException:
            fail(f"the overview still shows {text_of(driver, '#revision')}, not {second[:12]}")
        check(driver.execute_script("return window.__notReloaded === true;"),
              "the new revision appeared without a reload")
        check(text_of(driver, "#commit-message") == "Second commit: a note", "with its commit message")

        # Apply now on the manual Docker resource; its run appears.
        driver.get(BASE + "/ui/resources/" + CFG["resource"])
        driver.find_element(By.ID, "apply-now").click()
        wait(driver).until(EC.alert_is_present())
        driver.switch_to.alert.accept()
        wait(driver).until(EC.url_contains("requested=apply"))
        check("Apply requested" in text_of(driver, "p.notice"), "apply now is confirmed and queued")
        try:
            wait(driver, 90).until(lambda d: "succeeded" in text_of(d, "#runs"))
        except TimeoutException:
            fail("no succeeded run appeared: " + text_of(driver, "#runs"))
        step("the apply run appears on the page without a reload")
        check("docker" in text_of(driver, "#runs") and "up" in text_of(driver, "#runs"),
              "the run shows its commands")
        shot(driver, "resource")
        driver.get(BASE + "/ui/audit?actor=ui%3Aenv")
        check("apply.requested" in text_of(driver, "#audit"), "the audit log shows who asked for the apply")
    finally:
        driver.quit()

    # The overview on a phone.
    phone = browser(390, 844, phone=True)
    try:
        login(phone, CFG["read_token"])
        wait(phone).until(EC.presence_of_element_located((By.ID, "revision")))
        width = phone.execute_script("return document.documentElement.scrollWidth;")
        check(width <= 390, f"the overview fits a phone's width ({width}px)")
        shot(phone, "overview-phone")
    finally:
        phone.quit()
    print("all steps passed", flush=True)


if __name__ == "__main__":
    main()
