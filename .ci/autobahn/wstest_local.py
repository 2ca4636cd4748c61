# Runs Autobahn|Testsuite's `wstest` with every listener it opens bound to 127.0.0.1 (its
# default is every interface). Python 2.7, like the suite itself.
import sys

from twisted.internet import reactor

_listen_tcp = reactor.listenTCP


def listen_tcp_on_loopback(port, factory, backlog=50, interface=''):
    return _listen_tcp(port, factory, backlog, interface or '127.0.0.1')


reactor.listenTCP = listen_tcp_on_loopback

from autobahntestsuite.wstest import run  # noqa: E402 (after the patch, on purpose)

if __name__ == '__main__':
    sys.argv[0] = 'wstest'
    sys.exit(run())
