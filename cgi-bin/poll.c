/* poll.c: FastCGI/CGI program: simple poll (GET /push/poll) */
#include "pl_first.h"

#include "pl_serve.h"

int main(int argc, char **argv)
{
	return pl_serve_main(PL_PROG_POLL, "pushlite-poll", argc, argv);
}
