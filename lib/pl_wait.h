/* pl_wait.h: the programs that hold requests: longpoll and stream */
#ifndef PL_WAIT_H
#define PL_WAIT_H

enum pl_wait_mode { PL_WAIT_LONGPOLL, PL_WAIT_STREAM };

/* The main of cgi-bin/longpoll and cgi-bin/stream: one event loop (pl_loop)
 * holding every waiting request of the process. Returns the exit status. */
int pl_wait_main(enum pl_wait_mode mode, const char *name, int argc, char **argv);

#endif
