/* longpoll.c: FastCGI/CGI program: long poll (GET /push/longpoll): hold until a message or the timeout */
#include "pl_first.h"

#include "pl_wait.h"

int main(int argc, char **argv)
{
	return pl_wait_main(PL_WAIT_LONGPOLL, "pushlite-longpoll", argc, argv);
}
