/* pl_waiting.h: how many subscribers wait, summed over live processes
 *
 * Each longpoll/stream process owns one small file DB.waiting/PID holding its
 * count of held requests, and keeps an exclusive flock() on it for its
 * lifetime. A reader sums the files it cannot lock; a file it can lock belongs
 * to a dead process (even if its pid was reused) and is removed. Writes are
 * rate-limited so the count costs no syscall on the request path. One
 * counter per process: the state is private to pl_waiting.c.
 *
 * The file also carries, on its second line, how many times this process
 * has queried the message store (pl_waiting_queries()), so that the cost of
 * a wake can be watched from outside: one query per process per wake, not
 * one per waiter. Format: "%11d\n%20lld\n"; readers of the count read the
 * first line only. */
#ifndef PL_WAITING_H
#define PL_WAITING_H

/* Minimum interval between two writes of the count. */
#define PL_WAITING_INTERVAL_MS 100

/* Publish this process's count next to the database at db_path (creates
 * DB.waiting/ when missing). Calling it again does nothing.
 * Returns 0, or -1 (logged) when the directory or file cannot be made; the
 * other calls then do nothing, so a read-only install still serves. */
int pl_waiting_open(const char *db_path);

/* Record the current count; written at once unless the last write is less
 * than PL_WAITING_INTERVAL_MS old (then pl_waiting_due_ms() says when). */
void pl_waiting_set(int count);

/* ms until a recorded count is due to be written (call pl_waiting_set() again
 * then), or -1 when the file is up to date. For the caller's poll timeout. */
int pl_waiting_due_ms(void);

/* Count n more queries of the message store by this process. Written with
 * the count, under the same rate limit (pl_waiting_set() and
 * pl_waiting_due_ms() see it as a change to write); works before
 * pl_waiting_open() too. */
void pl_waiting_queries(long n);

/* Sum of the counts of live processes for the database at db_path; dead
 * processes' files are removed. Returns 0 when there is no directory, -1 when
 * it cannot be read. */
long pl_waiting_total(const char *db_path);
/* The other processes' counts, exact (their shared mappings; a process
 * that started less than PL_WAITING_INTERVAL_MS ago may be missed when the
 * directory's time did not change): a process adds its own, which it knows
 * exactly, having published it first with pl_waiting_set(), so that two
 * taking a request at once each count the other's. */
long pl_waiting_others(const char *db_path);

/* Remove this process's file. NULL-safe in spirit: does nothing if not open. */
void pl_waiting_close(void);

#endif
