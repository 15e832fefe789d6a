/**
 * For pages under a strict Content-Security-Policy (the web page's): zod
 * validates without compiling code. Its eval probe is reported as a policy
 * violation, a console error, even though the failure is caught. Imported
 * first by the client's browser entry; Node keeps zod's compiled fast path.
 */
import { z } from "zod";

z.config({ jitless: true });
