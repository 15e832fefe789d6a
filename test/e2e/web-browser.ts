/**
 * Chromium for the web page's tests: Debian's `chromium` package, installed
 * with apt when missing (root only; apt-get update once if the lists are stale),
 * driven headless by playwright-core. Where it cannot be installed the tests
 * skip, saying why.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from "playwright-core";

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];
/** What headless chromium needs on these machines: no user namespaces for the sandbox, a small /dev/shm. */
const FLAGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run", "--no-default-browser-check"];

function found(): string | null {
  return CANDIDATES.find((p) => existsSync(p)) ?? null;
}

function aptInstall(): void {
  execFileSync("apt-get", ["install", "-y", "-q", "--no-install-recommends", "chromium"], {
    stdio: ["ignore", "ignore", "inherit"],
    timeout: 600_000,
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
}

let cached: { path: string } | { skip: string } | undefined;

/** The chromium binary, installing it with apt when missing; or why there is none. */
export function ensureChromium(): { path: string } | { skip: string } {
  if (cached) return cached;
  const have = found();
  if (have) return (cached = { path: have });
  if (process.getuid?.() !== 0 || !existsSync("/usr/bin/apt-get")) {
    return (cached = { skip: "chromium is not installed and this is no Debian machine where the tests may run apt-get as root: install Debian's chromium package" });
  }
  try {
    console.error("installing Debian's chromium for the web page's tests ...");
    try {
      aptInstall();
    } catch {
      execFileSync("apt-get", ["update", "-q"], { stdio: ["ignore", "ignore", "inherit"], timeout: 300_000 });
      aptInstall();
    }
  } catch (err) {
    return (cached = { skip: `could not install chromium with apt-get: ${(err as Error).message}` });
  }
  const path = found();
  return (cached = path ? { path } : { skip: "apt-get installed chromium, but no binary is at /usr/bin/chromium" });
}

export async function launchChromium(path: string): Promise<Browser> {
  return chromium.launch({ executablePath: path, headless: true, args: FLAGS });
}

/**
 * A browser context whose pages record every console error and uncaught
 * exception; `errors` is what a test asserts empty at its end.
 */
export async function watchedContext(browser: Browser): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  // Fail fast: a step that takes longer than this is broken, not slow.
  context.setDefaultTimeout(15_000);
  const errors: string[] = [];
  context.on("page", (p) => watch(p, errors));
  const page = await context.newPage();
  return { context, page, errors };
}

function watch(page: Page, errors: string[]): void {
  page.on("console", (m: ConsoleMessage) => { if (m.type() === "error") errors.push(`console: ${m.text()}`); });
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
}

if (process.argv[1]?.endsWith("web-browser.ts") && process.argv.includes("--install")) {
  const r = ensureChromium();
  console.error("path" in r ? `chromium: ${r.path}` : r.skip);
}
