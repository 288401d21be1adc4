import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { projectRoot } from './shared.js';

/** Debian's chromium package; puppeteer-core downloads no browser of its own. */
export const CHROMIUM = '/usr/bin/chromium';

/** `{ skip }` for node:test where no browser is installed (CI installs none by hand). */
export function needsChromium(): { skip?: string } {
  return existsSync(CHROMIUM) ? {} : { skip: 'skipped: no chromium' };
}

export interface RunningWeb {
  /** The URL it printed, token included. */
  url: string;
  /** The address without path or token. */
  origin: string;
  token: string;
  /** The port it listens on. */
  port: number;
  /** The name of the cookie the token travels in: the port's own. */
  cookie: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `lnmsg <connection> web --port 0 <options>` as a child process, once it printed its URL. */
export function startLnmsgWeb(connection: string[], options: string[] = []): Promise<RunningWeb> {
  const args = [`${projectRoot}/bin/lnmsg`, ...connection, 'web', '--port', '0', ...options];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let output = '';
  return new Promise((resolve, reject) => {
    child.stderr?.on('data', (d) => {
      output += d;
    });
    child.stdout?.on('data', (d) => {
      output += d;
      const m = /^(http:\/\/\S+:(\d+))\/\?token=([A-Za-z0-9_-]+)$/m.exec(output);
      if (!m) return;
      const [url, origin, port, token] = m as unknown as [string, string, string, string];
      resolve({
        url,
        origin,
        token,
        port: Number(port),
        cookie: `lnmsg_web_${port}`,
        child,
        stop: async () => {
          child.kill('SIGTERM');
          await exited;
        },
      });
    });
    void exited.then(() => reject(new Error(`lnmsg web exited: ${output}`)));
  });
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One plain HTTP request, as a script (not a browser) would make it. */
export function http(
  url: string,
  o: { method?: string; headers?: Record<string, string>; body?: string | Buffer; setHost?: boolean } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const options = { method: o.method ?? 'GET', headers: o.headers, setHost: o.setHost ?? true };
    const req = request(url, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/** Headless Chromium with the page open at `url` (the token's first load). */
export async function openPage(
  url: string,
  size = { width: 1000, height: 700 },
): Promise<{ browser: Browser; page: Page }> {
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Chromium's sandbox needs a non-root user; tests run as root in containers.
    args: ['--no-sandbox'],
    defaultViewport: size,
  });
  const page = await browser.newPage();
  await page.goto(url);
  return { browser, page };
}

/** Waits (generously) until the element at `selector` holds `text`. */
export async function waitForText(page: Page, selector: string, text: string): Promise<void> {
  await page.waitForFunction(
    `document.querySelector(${JSON.stringify(selector)})?.textContent.includes(${JSON.stringify(text)})`,
    { timeout: 30_000 },
  );
}

/** Waits (generously) until the text of the element at `selector` matches `re`. */
export async function waitForMatch(page: Page, selector: string, re: RegExp): Promise<void> {
  await page.waitForFunction(`${re}.test(document.querySelector(${JSON.stringify(selector)})?.textContent)`, {
    timeout: 30_000,
  });
}

/** The text of the element at `selector`. */
export function textOf(page: Page, selector: string): Promise<string> {
  return page.evaluate(
    `document.querySelector(${JSON.stringify(selector)})?.textContent ?? ''`,
  ) as Promise<string>;
}
