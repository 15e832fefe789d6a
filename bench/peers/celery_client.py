"""The Celery side of the tasks benchmark's load: `clients` processes, each
submitting an `uppercase` task and waiting for its result before the next,
until `total` tasks are done. Each process first runs `warmup` tasks
unrecorded; then all start together. Prints one JSON line:
{"latencies": [ms...], "seconds": s, "errors": n, "cpu_s": s} (cpu_s: CPU time of
the client processes during the measured part only: their start-up, which
imports Celery sixteen times, would otherwise dwarf the per-task figure).

Processes rather than threads because Celery's result consumer is not meant
to be shared between threads.
"""
import json
import multiprocessing as mp
import resource
import sys
import time

INPUT = "colmena benchmark: hola mundo, make me uppercase please"


def client(barrier, counter, total, warmup, out):
    from celery_app import uppercase  # imported per process, after fork

    for _ in range(warmup):
        uppercase.delay(INPUT).get(timeout=60)
    barrier.wait()
    cpu0 = cpu_now()
    latencies, errors = [], 0
    while True:
        with counter.get_lock():
            if counter.value >= total:
                break
            counter.value += 1
        t0 = time.perf_counter()
        try:
            result = uppercase.delay(INPUT).get(timeout=60)
            if result != INPUT.upper():
                raise ValueError("wrong result")
            latencies.append((time.perf_counter() - t0) * 1000)
        except Exception:  # a lost or failed task counts as an error, not a crash
            errors += 1
    out.put((latencies, errors, time.perf_counter(), cpu_now() - cpu0))


def cpu_now():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    total, clients, warmup = (int(a) for a in sys.argv[1:4])
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(clients + 1)
    counter = ctx.Value("i", 0)
    out = ctx.Queue()
    procs = [ctx.Process(target=client, args=(barrier, counter, total, warmup, out)) for _ in range(clients)]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.perf_counter()
    latencies, errors, end, cpu = [], 0, start, 0.0
    for _ in procs:
        lat, err, finished, used = out.get()
        latencies += lat
        errors += err
        end = max(end, finished)
        cpu += used
    for p in procs:
        p.join()
    print(json.dumps({"latencies": latencies, "seconds": end - start, "errors": errors, "cpu_s": cpu}))


if __name__ == "__main__":
    main()
