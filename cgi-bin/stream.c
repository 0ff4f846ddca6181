/* stream.c: FastCGI/CGI program: streaming (GET /push/stream): SSE, iframe scripts, NDJSON */
#include "pl_first.h"

#include "pl_wait.h"

int main(int argc, char **argv)
{
	return pl_wait_main(PL_WAIT_STREAM, "pushlite-stream", argc, argv);
}
