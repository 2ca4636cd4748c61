
use builtin;
use str;

set edit:completion:arg-completer[wsx] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'wsx'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'wsx'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand connect 'Connect to a WebSocket server (REPL in a terminal, one frame per line in a pipe)'
            cand listen 'Serve WebSocket clients: type to broadcast, or echo, chat, or run a program per client'
            cand completions 'Print a shell completion script to stdout'
            cand man 'Print the manual page (of wsx, or of one command) to stdout, in roff'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'wsx;connect'= {
            cand -x 'Send MSG right after the handshake, before reading stdin (repeatable)'
            cand --execute 'Send MSG right after the handshake, before reading stdin (repeatable)'
            cand --tcp-listen 'A TCP-to-WebSocket tunnel: listen on [HOST:]PORT (127.0.0.1 unless told) and give every TCP connection its own WebSocket connection to URL, bytes both ways, until Ctrl-C'
            cand -w 'After stdin EOF, keep receiving until SECS pass with no frame; 0 closes at once, -1 never'
            cand --wait 'After stdin EOF, keep receiving until SECS pass with no frame; 0 closes at once, -1 never'
            cand --close-timeout 'How long to wait for the peer''s answer to our Close frame'
            cand --format 'Output format [default: human on a terminal, raw otherwise]'
            cand --timestamps 'How event times are shown'
            cand --binary-output 'How binary frames are written in raw format'
            cand -H 'Add a request header (repeatable): -H ''Authorization: Bearer T'''
            cand --header 'Add a request header (repeatable): -H ''Authorization: Bearer T'''
            cand -o 'Send this Origin header (as a browser page would)'
            cand --origin 'Send this Origin header (as a browser page would)'
            cand -u 'HTTP Basic credentials (also taken from user:pass@ in the URL)'
            cand --auth 'HTTP Basic credentials (also taken from user:pass@ in the URL)'
            cand --user 'HTTP Basic credentials (also taken from user:pass@ in the URL)'
            cand -b 'Send cookies, as curl does: ''NAME=VALUE; ...'', or a cookie file (Netscape format) to take the URL''s cookies from (repeatable)'
            cand --cookie 'Send cookies, as curl does: ''NAME=VALUE; ...'', or a cookie file (Netscape format) to take the URL''s cookies from (repeatable)'
            cand -A 'Send this User-Agent header'
            cand --user-agent 'Send this User-Agent header'
            cand -s 'Offer a subprotocol (repeatable, in order of preference); the server''s choice is shown'
            cand --subprotocol 'Offer a subprotocol (repeatable, in order of preference); the server''s choice is shown'
            cand --count 'Exit after N received data frames'
            cand --until 'Exit 0 (after a clean close) as soon as a received text message matches REGEX'
            cand -m 'A deadline for the whole run, connecting included: when it passes, close cleanly and exit 7 (curl''s -m)'
            cand --max-time 'A deadline for the whole run, connecting included: when it passes, close cleanly and exit 7 (curl''s -m)'
            cand --max-message-size 'Largest message accepted; a larger one closes the connection with 1009'
            cand --unix-socket 'Connect to this Unix domain socket instead (curl''s flag); the URL still gives the request''s host and path'
            cand --proxy 'Connect through this proxy: http://[user:pass@]host[:port] (CONNECT), or socks5://, socks5h:// (the proxy resolves the name) [user:pass@]host[:port] [default: from https_proxy / http_proxy / all_proxy, minus no_proxy, as curl reads them]'
            cand --max-redirects 'With -L: follow at most N redirects'
            cand --ping-interval 'Send a ping every SECS (pongs are shown with -P)'
            cand --ping-timeout 'With --ping-interval: end with exit 5 when a pong is SECS late'
            cand --connect-timeout 'Give up connecting (TCP, TLS and handshake) after SECS'
            cand --ca 'Trust only the certificate authorities in FILE (PEM), instead of the system''s'
            cand --cert 'Present this client certificate (PEM, with --key)'
            cand --key 'The private key for --cert (PEM)'
            cand --record 'Write every connection to FILE as it happens: HAR 1.2 if FILE ends in .har (as browsers export it, one entry per connection), else the jsonl events of --format jsonl'
            cand --replay 'Play a recorded conversation (HAR from a browser, mitmproxy or wsx, or wsx''s jsonl): listen plays the server''s side to every client (matched by path), connect the client''s side instead of stdin (-w bounds each wait for the server)'
            cand --replay-speed 'Play the recorded gaps N times faster; 0 sends without gaps'
            cand --echo 'Send every received data message straight back: text as text, binary as binary, byte for byte (with -w -1, until the server closes)'
            cand --stream 'stdin and stdout as a byte stream (ssh''s ProxyCommand, nc): each read of stdin is sent as one binary frame, and the payload of every data frame received is written to stdout as it is, with nothing added (on a terminal, as raw format shows it)'
            cand --binary 'Send lines as binary frames instead of text'
            cand --slash 'Interpret /commands in piped input too (always on in the REPL)'
            cand --no-history 'Do not read or write the REPL history file'
            cand -P 'Show ping and pong frames in human format (always shown in jsonl)'
            cand --show-ping-pong 'Show ping and pong frames in human format (always shown in jsonl)'
            cand --pretty 'In human format, indent JSON objects and arrays over several lines (they are always syntax-coloured when colour is on)'
            cand --no-color 'Never color the output (also: NO_COLOR set, or stdout not a terminal)'
            cand -q 'Silence all diagnostics but the final failure reason'
            cand --quiet 'Silence all diagnostics but the final failure reason'
            cand -v 'Print the handshake request and response headers to stderr'
            cand --verbose 'Print the handshake request and response headers to stderr'
            cand --compressed 'Accepted so that a pasted curl command line works (compression is offered anyway)'
            cand --no-compression 'Do not offer permessage-deflate (offered by default, as browsers do)'
            cand -L 'Follow 301, 302, 303, 307 and 308 redirects of the handshake'
            cand --location 'Follow 301, 302, 303, 307 and 308 redirects of the handshake'
            cand --reconnect 'After a lost connection (not a clean close), connect again with growing pauses; the -x messages are sent again each time'
            cand -k 'Do not verify the server''s certificate (a warning is printed)'
            cand --insecure 'Do not verify the server''s certificate (a warning is printed)'
            cand --record-credentials 'Keep the values of Authorization, Cookie and Set-Cookie in a HAR recording (they are written as [redacted] otherwise)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'wsx;listen'= {
            cand --exec 'Run CMD (with sh -c; cmd /C on Windows) per client: text frames in as stdin lines, stdout lines out as frames'
            cand --tls-cert 'Serve wss:// with this certificate chain (PEM)'
            cand --tls-key 'The private key for --tls-cert (PEM)'
            cand --tls-ca 'Mutual TLS: require a client certificate signed by an authority in FILE (PEM)'
            cand -s 'Subprotocols to offer, in order of preference; the first the client also wants is chosen'
            cand --subprotocol 'Subprotocols to offer, in order of preference; the first the client also wants is chosen'
            cand --origin 'Allow browsers from ORIGIN only (repeatable); others get 403, requests without Origin pass'
            cand --auth 'Require HTTP Basic authentication with these credentials; others get 401'
            cand -H 'Add a header to every 101 answer (repeatable): -H ''X-Server: mock'''
            cand --header 'Add a header to every 101 answer (repeatable): -H ''X-Server: mock'''
            cand --path 'Accept upgrades only on PATH (repeatable; the query string aside); others get 404'
            cand --static 'Answer plain HTTP GET and HEAD requests (not upgrades) with the files in DIR, on the same port: index.html for a folder, 404 for what is missing, nothing outside DIR'
            cand --max-clients 'Serve at most N clients at once; others get 503'
            cand --max-message-size 'Largest message accepted; a larger one closes that client with 1009'
            cand --max-backlog 'Close a client with 1008 once more than BYTES of earlier messages still wait for it (it stopped reading); one large message alone never counts'
            cand --max-handshakes 'Handshakes in progress at most; past it, the oldest is dropped for each new connection'
            cand --handshake-timeout 'Drop a client whose handshake is not complete after SECS'
            cand --forward 'Relay every client to its own connection to TARGET, shown both ways: ws:// or wss:// (the client''s path and query appended), or tcp:HOST:PORT or unix:PATH (a WebSocket-to-TCP bridge: bytes both ways as binary frames)'
            cand --forward-ca 'Trust the authorities in FILE (PEM) for the --forward server''s certificate'
            cand --forward-timeout 'How long dialling the --forward server may take; then the client gets 504'
            cand --close-timeout 'How long to wait for the peer''s answer to our Close frame'
            cand --format 'Output format [default: human on a terminal, raw otherwise]'
            cand --timestamps 'How event times are shown'
            cand --binary-output 'How binary frames are written in raw format'
            cand --record 'Write every connection to FILE as it happens: HAR 1.2 if FILE ends in .har (as browsers export it, one entry per connection), else the jsonl events of --format jsonl'
            cand --replay 'Play a recorded conversation (HAR from a browser, mitmproxy or wsx, or wsx''s jsonl): listen plays the server''s side to every client (matched by path), connect the client''s side instead of stdin (-w bounds each wait for the server)'
            cand --replay-speed 'Play the recorded gaps N times faster; 0 sends without gaps'
            cand --echo 'Send every data frame back to its sender'
            cand --chat 'Relay every data frame to all other clients'
            cand --pass-auth 'Give --exec programs the Authorization header too (HTTP_AUTHORIZATION)'
            cand --once 'Exit after the first client leaves'
            cand --no-compression 'Decline permessage-deflate (accepted by default when a client offers it)'
            cand --forward-insecure 'Do not verify the --forward server''s certificate'
            cand --binary 'Send lines as binary frames instead of text'
            cand --slash 'Interpret /commands in piped input too (always on in the REPL)'
            cand --no-history 'Do not read or write the REPL history file'
            cand -P 'Show ping and pong frames in human format (always shown in jsonl)'
            cand --show-ping-pong 'Show ping and pong frames in human format (always shown in jsonl)'
            cand --pretty 'In human format, indent JSON objects and arrays over several lines (they are always syntax-coloured when colour is on)'
            cand --no-color 'Never color the output (also: NO_COLOR set, or stdout not a terminal)'
            cand -q 'Silence all diagnostics but the final failure reason'
            cand --quiet 'Silence all diagnostics but the final failure reason'
            cand -v 'Print the handshake request and response headers to stderr'
            cand --verbose 'Print the handshake request and response headers to stderr'
            cand --record-credentials 'Keep the values of Authorization, Cookie and Set-Cookie in a HAR recording (they are written as [redacted] otherwise)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'wsx;completions'= {
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'wsx;man'= {
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'wsx;help'= {
            cand connect 'Connect to a WebSocket server (REPL in a terminal, one frame per line in a pipe)'
            cand listen 'Serve WebSocket clients: type to broadcast, or echo, chat, or run a program per client'
            cand completions 'Print a shell completion script to stdout'
            cand man 'Print the manual page (of wsx, or of one command) to stdout, in roff'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'wsx;help;connect'= {
        }
        &'wsx;help;listen'= {
        }
        &'wsx;help;completions'= {
        }
        &'wsx;help;man'= {
        }
        &'wsx;help;help'= {
        }
    ]
    $completions[$command]
}
