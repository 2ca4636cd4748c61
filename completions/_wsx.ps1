
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'wsx' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'wsx'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'wsx' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('connect', 'connect', [CompletionResultType]::ParameterValue, 'Connect to a WebSocket server (REPL in a terminal, one frame per line in a pipe)')
            [CompletionResult]::new('listen', 'listen', [CompletionResultType]::ParameterValue, 'Serve WebSocket clients: type to broadcast, or echo, chat, or run a program per client')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script to stdout')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print the manual page (of wsx, or of one command) to stdout, in roff')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'wsx;connect' {
            [CompletionResult]::new('-x', '-x', [CompletionResultType]::ParameterName, 'Send MSG right after the handshake, before reading stdin (repeatable)')
            [CompletionResult]::new('--execute', '--execute', [CompletionResultType]::ParameterName, 'Send MSG right after the handshake, before reading stdin (repeatable)')
            [CompletionResult]::new('--tcp-listen', '--tcp-listen', [CompletionResultType]::ParameterName, 'A TCP-to-WebSocket tunnel: listen on [HOST:]PORT (127.0.0.1 unless told) and give every TCP connection its own WebSocket connection to URL, bytes both ways, until Ctrl-C')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'After stdin EOF, keep receiving until SECS pass with no frame; 0 closes at once, -1 never')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'After stdin EOF, keep receiving until SECS pass with no frame; 0 closes at once, -1 never')
            [CompletionResult]::new('--close-timeout', '--close-timeout', [CompletionResultType]::ParameterName, 'How long to wait for the peer''s answer to our Close frame')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format [default: human on a terminal, raw otherwise]')
            [CompletionResult]::new('--timestamps', '--timestamps', [CompletionResultType]::ParameterName, 'How event times are shown')
            [CompletionResult]::new('--binary-output', '--binary-output', [CompletionResultType]::ParameterName, 'How binary frames are written in raw format')
            [CompletionResult]::new('-H', '-H ', [CompletionResultType]::ParameterName, 'Add a request header (repeatable): -H ''Authorization: Bearer T''')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Add a request header (repeatable): -H ''Authorization: Bearer T''')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Send this Origin header (as a browser page would)')
            [CompletionResult]::new('--origin', '--origin', [CompletionResultType]::ParameterName, 'Send this Origin header (as a browser page would)')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'HTTP Basic credentials (also taken from user:pass@ in the URL)')
            [CompletionResult]::new('--auth', '--auth', [CompletionResultType]::ParameterName, 'HTTP Basic credentials (also taken from user:pass@ in the URL)')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'HTTP Basic credentials (also taken from user:pass@ in the URL)')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Send cookies, as curl does: ''NAME=VALUE; ...'', or a cookie file (Netscape format) to take the URL''s cookies from (repeatable)')
            [CompletionResult]::new('--cookie', '--cookie', [CompletionResultType]::ParameterName, 'Send cookies, as curl does: ''NAME=VALUE; ...'', or a cookie file (Netscape format) to take the URL''s cookies from (repeatable)')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Send this User-Agent header')
            [CompletionResult]::new('--user-agent', '--user-agent', [CompletionResultType]::ParameterName, 'Send this User-Agent header')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Offer a subprotocol (repeatable, in order of preference); the server''s choice is shown')
            [CompletionResult]::new('--subprotocol', '--subprotocol', [CompletionResultType]::ParameterName, 'Offer a subprotocol (repeatable, in order of preference); the server''s choice is shown')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Exit after N received data frames')
            [CompletionResult]::new('--until', '--until', [CompletionResultType]::ParameterName, 'Exit 0 (after a clean close) as soon as a received text message matches REGEX')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'A deadline for the whole run, connecting included: when it passes, close cleanly and exit 7 (curl''s -m)')
            [CompletionResult]::new('--max-time', '--max-time', [CompletionResultType]::ParameterName, 'A deadline for the whole run, connecting included: when it passes, close cleanly and exit 7 (curl''s -m)')
            [CompletionResult]::new('--max-message-size', '--max-message-size', [CompletionResultType]::ParameterName, 'Largest message accepted; a larger one closes the connection with 1009')
            [CompletionResult]::new('--unix-socket', '--unix-socket', [CompletionResultType]::ParameterName, 'Connect to this Unix domain socket instead (curl''s flag); the URL still gives the request''s host and path')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Connect through this proxy: http://[user:pass@]host[:port] (CONNECT), or socks5://, socks5h:// (the proxy resolves the name) [user:pass@]host[:port] [default: from https_proxy / http_proxy / all_proxy, minus no_proxy, as curl reads them]')
            [CompletionResult]::new('--max-redirects', '--max-redirects', [CompletionResultType]::ParameterName, 'With -L: follow at most N redirects')
            [CompletionResult]::new('--ping-interval', '--ping-interval', [CompletionResultType]::ParameterName, 'Send a ping every SECS (pongs are shown with -P)')
            [CompletionResult]::new('--ping-timeout', '--ping-timeout', [CompletionResultType]::ParameterName, 'With --ping-interval: end with exit 5 when a pong is SECS late')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Give up connecting (TCP, TLS and handshake) after SECS')
            [CompletionResult]::new('--ca', '--ca', [CompletionResultType]::ParameterName, 'Trust only the certificate authorities in FILE (PEM), instead of the system''s')
            [CompletionResult]::new('--cert', '--cert', [CompletionResultType]::ParameterName, 'Present this client certificate (PEM, with --key)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'The private key for --cert (PEM)')
            [CompletionResult]::new('--record', '--record', [CompletionResultType]::ParameterName, 'Write every connection to FILE as it happens: HAR 1.2 if FILE ends in .har (as browsers export it, one entry per connection), else the jsonl events of --format jsonl')
            [CompletionResult]::new('--replay', '--replay', [CompletionResultType]::ParameterName, 'Play a recorded conversation (HAR from a browser, mitmproxy or wsx, or wsx''s jsonl): listen plays the server''s side to every client (matched by path), connect the client''s side instead of stdin (-w bounds each wait for the server)')
            [CompletionResult]::new('--replay-speed', '--replay-speed', [CompletionResultType]::ParameterName, 'Play the recorded gaps N times faster; 0 sends without gaps')
            [CompletionResult]::new('--echo', '--echo', [CompletionResultType]::ParameterName, 'Send every received data message straight back: text as text, binary as binary, byte for byte (with -w -1, until the server closes)')
            [CompletionResult]::new('--stream', '--stream', [CompletionResultType]::ParameterName, 'stdin and stdout as a byte stream (ssh''s ProxyCommand, nc): each read of stdin is sent as one binary frame, and the payload of every data frame received is written to stdout as it is, with nothing added (on a terminal, as raw format shows it)')
            [CompletionResult]::new('--binary', '--binary', [CompletionResultType]::ParameterName, 'Send lines as binary frames instead of text')
            [CompletionResult]::new('--slash', '--slash', [CompletionResultType]::ParameterName, 'Interpret /commands in piped input too (always on in the REPL)')
            [CompletionResult]::new('--no-history', '--no-history', [CompletionResultType]::ParameterName, 'Do not read or write the REPL history file')
            [CompletionResult]::new('-P', '-P ', [CompletionResultType]::ParameterName, 'Show ping and pong frames in human format (always shown in jsonl)')
            [CompletionResult]::new('--show-ping-pong', '--show-ping-pong', [CompletionResultType]::ParameterName, 'Show ping and pong frames in human format (always shown in jsonl)')
            [CompletionResult]::new('--pretty', '--pretty', [CompletionResultType]::ParameterName, 'In human format, indent JSON objects and arrays over several lines (they are always syntax-coloured when colour is on)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never color the output (also: NO_COLOR set, or stdout not a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Silence all diagnostics but the final failure reason')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Silence all diagnostics but the final failure reason')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print the handshake request and response headers to stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print the handshake request and response headers to stderr')
            [CompletionResult]::new('--compressed', '--compressed', [CompletionResultType]::ParameterName, 'Accepted so that a pasted curl command line works (compression is offered anyway)')
            [CompletionResult]::new('--no-compression', '--no-compression', [CompletionResultType]::ParameterName, 'Do not offer permessage-deflate (offered by default, as browsers do)')
            [CompletionResult]::new('-L', '-L ', [CompletionResultType]::ParameterName, 'Follow 301, 302, 303, 307 and 308 redirects of the handshake')
            [CompletionResult]::new('--location', '--location', [CompletionResultType]::ParameterName, 'Follow 301, 302, 303, 307 and 308 redirects of the handshake')
            [CompletionResult]::new('--reconnect', '--reconnect', [CompletionResultType]::ParameterName, 'After a lost connection (not a clean close), connect again with growing pauses; the -x messages are sent again each time')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate (a warning is printed)')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate (a warning is printed)')
            [CompletionResult]::new('--record-credentials', '--record-credentials', [CompletionResultType]::ParameterName, 'Keep the values of Authorization, Cookie and Set-Cookie in a HAR recording (they are written as [redacted] otherwise)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'wsx;listen' {
            [CompletionResult]::new('--exec', '--exec', [CompletionResultType]::ParameterName, 'Run CMD (with sh -c; cmd /C on Windows) per client: text frames in as stdin lines, stdout lines out as frames')
            [CompletionResult]::new('--tls-cert', '--tls-cert', [CompletionResultType]::ParameterName, 'Serve wss:// with this certificate chain (PEM)')
            [CompletionResult]::new('--tls-key', '--tls-key', [CompletionResultType]::ParameterName, 'The private key for --tls-cert (PEM)')
            [CompletionResult]::new('--tls-ca', '--tls-ca', [CompletionResultType]::ParameterName, 'Mutual TLS: require a client certificate signed by an authority in FILE (PEM)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Subprotocols to offer, in order of preference; the first the client also wants is chosen')
            [CompletionResult]::new('--subprotocol', '--subprotocol', [CompletionResultType]::ParameterName, 'Subprotocols to offer, in order of preference; the first the client also wants is chosen')
            [CompletionResult]::new('--origin', '--origin', [CompletionResultType]::ParameterName, 'Allow browsers from ORIGIN only (repeatable); others get 403, requests without Origin pass')
            [CompletionResult]::new('--auth', '--auth', [CompletionResultType]::ParameterName, 'Require HTTP Basic authentication with these credentials; others get 401')
            [CompletionResult]::new('-H', '-H ', [CompletionResultType]::ParameterName, 'Add a header to every 101 answer (repeatable): -H ''X-Server: mock''')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'Add a header to every 101 answer (repeatable): -H ''X-Server: mock''')
            [CompletionResult]::new('--path', '--path', [CompletionResultType]::ParameterName, 'Accept upgrades only on PATH (repeatable; the query string aside); others get 404')
            [CompletionResult]::new('--static', '--static', [CompletionResultType]::ParameterName, 'Answer plain HTTP GET and HEAD requests (not upgrades) with the files in DIR, on the same port: index.html for a folder, 404 for what is missing, nothing outside DIR')
            [CompletionResult]::new('--max-clients', '--max-clients', [CompletionResultType]::ParameterName, 'Serve at most N clients at once; others get 503')
            [CompletionResult]::new('--max-message-size', '--max-message-size', [CompletionResultType]::ParameterName, 'Largest message accepted; a larger one closes that client with 1009')
            [CompletionResult]::new('--max-backlog', '--max-backlog', [CompletionResultType]::ParameterName, 'Close a client with 1008 once more than BYTES of earlier messages still wait for it (it stopped reading); one large message alone never counts')
            [CompletionResult]::new('--max-handshakes', '--max-handshakes', [CompletionResultType]::ParameterName, 'Handshakes in progress at most; past it, the oldest is dropped for each new connection')
            [CompletionResult]::new('--handshake-timeout', '--handshake-timeout', [CompletionResultType]::ParameterName, 'Drop a client whose handshake is not complete after SECS')
            [CompletionResult]::new('--forward', '--forward', [CompletionResultType]::ParameterName, 'Relay every client to its own connection to TARGET, shown both ways: ws:// or wss:// (the client''s path and query appended), or tcp:HOST:PORT or unix:PATH (a WebSocket-to-TCP bridge: bytes both ways as binary frames)')
            [CompletionResult]::new('--forward-ca', '--forward-ca', [CompletionResultType]::ParameterName, 'Trust the authorities in FILE (PEM) for the --forward server''s certificate')
            [CompletionResult]::new('--forward-timeout', '--forward-timeout', [CompletionResultType]::ParameterName, 'How long dialling the --forward server may take; then the client gets 504')
            [CompletionResult]::new('--close-timeout', '--close-timeout', [CompletionResultType]::ParameterName, 'How long to wait for the peer''s answer to our Close frame')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format [default: human on a terminal, raw otherwise]')
            [CompletionResult]::new('--timestamps', '--timestamps', [CompletionResultType]::ParameterName, 'How event times are shown')
            [CompletionResult]::new('--binary-output', '--binary-output', [CompletionResultType]::ParameterName, 'How binary frames are written in raw format')
            [CompletionResult]::new('--record', '--record', [CompletionResultType]::ParameterName, 'Write every connection to FILE as it happens: HAR 1.2 if FILE ends in .har (as browsers export it, one entry per connection), else the jsonl events of --format jsonl')
            [CompletionResult]::new('--replay', '--replay', [CompletionResultType]::ParameterName, 'Play a recorded conversation (HAR from a browser, mitmproxy or wsx, or wsx''s jsonl): listen plays the server''s side to every client (matched by path), connect the client''s side instead of stdin (-w bounds each wait for the server)')
            [CompletionResult]::new('--replay-speed', '--replay-speed', [CompletionResultType]::ParameterName, 'Play the recorded gaps N times faster; 0 sends without gaps')
            [CompletionResult]::new('--echo', '--echo', [CompletionResultType]::ParameterName, 'Send every data frame back to its sender')
            [CompletionResult]::new('--chat', '--chat', [CompletionResultType]::ParameterName, 'Relay every data frame to all other clients')
            [CompletionResult]::new('--pass-auth', '--pass-auth', [CompletionResultType]::ParameterName, 'Give --exec programs the Authorization header too (HTTP_AUTHORIZATION)')
            [CompletionResult]::new('--once', '--once', [CompletionResultType]::ParameterName, 'Exit after the first client leaves')
            [CompletionResult]::new('--no-compression', '--no-compression', [CompletionResultType]::ParameterName, 'Decline permessage-deflate (accepted by default when a client offers it)')
            [CompletionResult]::new('--forward-insecure', '--forward-insecure', [CompletionResultType]::ParameterName, 'Do not verify the --forward server''s certificate')
            [CompletionResult]::new('--binary', '--binary', [CompletionResultType]::ParameterName, 'Send lines as binary frames instead of text')
            [CompletionResult]::new('--slash', '--slash', [CompletionResultType]::ParameterName, 'Interpret /commands in piped input too (always on in the REPL)')
            [CompletionResult]::new('--no-history', '--no-history', [CompletionResultType]::ParameterName, 'Do not read or write the REPL history file')
            [CompletionResult]::new('-P', '-P ', [CompletionResultType]::ParameterName, 'Show ping and pong frames in human format (always shown in jsonl)')
            [CompletionResult]::new('--show-ping-pong', '--show-ping-pong', [CompletionResultType]::ParameterName, 'Show ping and pong frames in human format (always shown in jsonl)')
            [CompletionResult]::new('--pretty', '--pretty', [CompletionResultType]::ParameterName, 'In human format, indent JSON objects and arrays over several lines (they are always syntax-coloured when colour is on)')
            [CompletionResult]::new('--no-color', '--no-color', [CompletionResultType]::ParameterName, 'Never color the output (also: NO_COLOR set, or stdout not a terminal)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Silence all diagnostics but the final failure reason')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Silence all diagnostics but the final failure reason')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print the handshake request and response headers to stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print the handshake request and response headers to stderr')
            [CompletionResult]::new('--record-credentials', '--record-credentials', [CompletionResultType]::ParameterName, 'Keep the values of Authorization, Cookie and Set-Cookie in a HAR recording (they are written as [redacted] otherwise)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'wsx;completions' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'wsx;man' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'wsx;help' {
            [CompletionResult]::new('connect', 'connect', [CompletionResultType]::ParameterValue, 'Connect to a WebSocket server (REPL in a terminal, one frame per line in a pipe)')
            [CompletionResult]::new('listen', 'listen', [CompletionResultType]::ParameterValue, 'Serve WebSocket clients: type to broadcast, or echo, chat, or run a program per client')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script to stdout')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print the manual page (of wsx, or of one command) to stdout, in roff')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'wsx;help;connect' {
            break
        }
        'wsx;help;listen' {
            break
        }
        'wsx;help;completions' {
            break
        }
        'wsx;help;man' {
            break
        }
        'wsx;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
