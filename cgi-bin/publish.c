/* publish.c: FastCGI/CGI program: accept messages (POST /push/publish) */
#include "pl_first.h"

#include "pl_serve.h"

int main(int argc, char **argv)
{
	return pl_serve_main(PL_PROG_PUBLISH, "pushlite-publish", argc, argv);
}
