# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_wsx_global_optspecs
    string join \n h/help V/version
end

function __fish_wsx_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_wsx_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_wsx_using_subcommand
    set -l cmd (__fish_wsx_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c wsx -n "__fish_wsx_needs_command" -s h -l help -d 'Print help'
complete -c wsx -n "__fish_wsx_needs_command" -s V -l version -d 'Print version'
complete -c wsx -n "__fish_wsx_needs_command" -f -a "connect" -d 'Connect to a WebSocket server (REPL in a terminal, one frame per line in a pipe)'
complete -c wsx -n "__fish_wsx_needs_command" -f -a "listen" -d 'Serve WebSocket clients: type to broadcast, or echo, chat, or run a program per client'
complete -c wsx -n "__fish_wsx_needs_command" -f -a "completions" -d 'Print a shell completion script to stdout'
complete -c wsx -n "__fish_wsx_needs_command" -f -a "man" -d 'Print the manual page (of wsx, or of one command) to stdout, in roff'
complete -c wsx -n "__fish_wsx_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wsx -n "__fish_wsx_using_subcommand connect" -s x -l execute -d 'Send MSG right after the handshake, before reading stdin (repeatable)' -r
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l tcp-listen -d 'A TCP-to-WebSocket tunnel: listen on [HOST:]PORT (127.0.0.1 unless told) and give every TCP connection its own WebSocket connection to URL, bytes both ways, until Ctrl-C' -r
complete -c wsx -n "__fish_wsx_using_subcommand connect" -s w -l wait -d 'After stdin EOF, keep receiving until SECS pass with no frame; 0 closes at once, -1 never' -r
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l close-timeout -d 'How long to wait for the peer\'s answer to our Close frame' -r
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l format -d 'Output format [default: human on a terminal, raw otherwise]' -r -f -a "human\t'One line per event with time, direction and type'
raw\t'Only the payload of each received data frame, one per line'
jsonl\t'One JSON object per event'"
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l timestamps -d 'How event times are shown' -r -f -a "local\t'Local wall-clock time, HH:MM:SS.mmm'
utc\t'UTC wall-clock time, HH:MM:SS.mmm'
elapsed\t'Seconds since wsx started, +S.mmm'
none\t'No time at all'"
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l binary-output -d 'How binary frames are written in raw format' -r -f -a "raw\t'The bytes exactly, no newline added'
hex\t'Lowercase hex pairs separated by spaces, one frame per line'
base64\t'Standard base64, one frame per line'"
complete -c wsx -n "__fish_wsx_using_subcommand connect" -s H -l header -d 'Add a request header (repeatable): -H \'Authorization: Bearer T\'' -r
complete -c wsx -n "__fish_wsx_using_subcommand connect" -s o -l origin -d 'Send this Origin header (as a browser page would)' -r
complete -c wsx -n "__fish_wsx_using_subcommand connect" -s u -l auth -l user -d 'HTTP Basic credentials (also taken from user:pass@ in the URL)' -r
complete -c wsx -n "__fish_wsx_using_subcommand connect" -s b -l cookie -d 'Send cookies, as curl does: \'NAME=VALUE; ...\', or a cookie file (Netscape format) to take the URL\'s cookies from (repeatable)' -r
complete -c wsx -n "__fish_wsx_using_subcommand connect" -s A -l user-agent -d 'Send this User-Agent header' -r
complete -c wsx -n "__fish_wsx_using_subcommand connect" -s s -l subprotocol -d 'Offer a subprotocol (repeatable, in order of preference); the server\'s choice is shown' -r
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l count -d 'Exit after N received data frames' -r
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l until -d 'Exit 0 (after a clean close) as soon as a received text message matches REGEX' -r
complete -c wsx -n "__fish_wsx_using_subcommand connect" -s m -l max-time -d 'A deadline for the whole run, connecting included: when it passes, close cleanly and exit 7 (curl\'s -m)' -r
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l max-message-size -d 'Largest message accepted; a larger one closes the connection with 1009' -r
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l unix-socket -d 'Connect to this Unix domain socket instead (curl\'s flag); the URL still gives the request\'s host and path' -r -F
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l proxy -d 'Connect through this proxy: http://[user:pass@]host[:port] (CONNECT), or socks5://, socks5h:// (the proxy resolves the name) [user:pass@]host[:port] [default: from https_proxy / http_proxy / all_proxy, minus no_proxy, as curl reads them]' -r
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l max-redirects -d 'With -L: follow at most N redirects' -r
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l ping-interval -d 'Send a ping every SECS (pongs are shown with -P)' -r
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l ping-timeout -d 'With --ping-interval: end with exit 5 when a pong is SECS late' -r
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l connect-timeout -d 'Give up connecting (TCP, TLS and handshake) after SECS' -r
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l ca -d 'Trust only the certificate authorities in FILE (PEM), instead of the system\'s' -r -F
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l cert -d 'Present this client certificate (PEM, with --key)' -r -F
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l key -d 'The private key for --cert (PEM)' -r -F
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l record -d 'Write every connection to FILE as it happens: HAR 1.2 if FILE ends in .har (as browsers export it, one entry per connection), else the jsonl events of --format jsonl' -r -F
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l replay -d 'Play a recorded conversation (HAR from a browser, mitmproxy or wsx, or wsx\'s jsonl): listen plays the server\'s side to every client (matched by path), connect the client\'s side instead of stdin (-w bounds each wait for the server)' -r -F
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l replay-speed -d 'Play the recorded gaps N times faster; 0 sends without gaps' -r
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l echo -d 'Send every received data message straight back: text as text, binary as binary, byte for byte (with -w -1, until the server closes)'
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l stream -d 'stdin and stdout as a byte stream (ssh\'s ProxyCommand, nc): each read of stdin is sent as one binary frame, and the payload of every data frame received is written to stdout as it is, with nothing added (on a terminal, as raw format shows it)'
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l binary -d 'Send lines as binary frames instead of text'
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l slash -d 'Interpret /commands in piped input too (always on in the REPL)'
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l no-history -d 'Do not read or write the REPL history file'
complete -c wsx -n "__fish_wsx_using_subcommand connect" -s P -l show-ping-pong -d 'Show ping and pong frames in human format (always shown in jsonl)'
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l pretty -d 'In human format, indent JSON objects and arrays over several lines (they are always syntax-coloured when colour is on)'
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l no-color -d 'Never color the output (also: NO_COLOR set, or stdout not a terminal)'
complete -c wsx -n "__fish_wsx_using_subcommand connect" -s q -l quiet -d 'Silence all diagnostics but the final failure reason'
complete -c wsx -n "__fish_wsx_using_subcommand connect" -s v -l verbose -d 'Print the handshake request and response headers to stderr'
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l compressed -d 'Accepted so that a pasted curl command line works (compression is offered anyway)'
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l no-compression -d 'Do not offer permessage-deflate (offered by default, as browsers do)'
complete -c wsx -n "__fish_wsx_using_subcommand connect" -s L -l location -d 'Follow 301, 302, 303, 307 and 308 redirects of the handshake'
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l reconnect -d 'After a lost connection (not a clean close), connect again with growing pauses; the -x messages are sent again each time'
complete -c wsx -n "__fish_wsx_using_subcommand connect" -s k -l insecure -d 'Do not verify the server\'s certificate (a warning is printed)'
complete -c wsx -n "__fish_wsx_using_subcommand connect" -l record-credentials -d 'Keep the values of Authorization, Cookie and Set-Cookie in a HAR recording (they are written as [redacted] otherwise)'
complete -c wsx -n "__fish_wsx_using_subcommand connect" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l exec -d 'Run CMD (with sh -c; cmd /C on Windows) per client: text frames in as stdin lines, stdout lines out as frames' -r
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l tls-cert -d 'Serve wss:// with this certificate chain (PEM)' -r -F
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l tls-key -d 'The private key for --tls-cert (PEM)' -r -F
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l tls-ca -d 'Mutual TLS: require a client certificate signed by an authority in FILE (PEM)' -r -F
complete -c wsx -n "__fish_wsx_using_subcommand listen" -s s -l subprotocol -d 'Subprotocols to offer, in order of preference; the first the client also wants is chosen' -r
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l origin -d 'Allow browsers from ORIGIN only (repeatable); others get 403, requests without Origin pass' -r
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l auth -d 'Require HTTP Basic authentication with these credentials; others get 401' -r
complete -c wsx -n "__fish_wsx_using_subcommand listen" -s H -l header -d 'Add a header to every 101 answer (repeatable): -H \'X-Server: mock\'' -r
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l path -d 'Accept upgrades only on PATH (repeatable; the query string aside); others get 404' -r
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l static -d 'Answer plain HTTP GET and HEAD requests (not upgrades) with the files in DIR, on the same port: index.html for a folder, 404 for what is missing, nothing outside DIR' -r -F
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l max-clients -d 'Serve at most N clients at once; others get 503' -r
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l max-message-size -d 'Largest message accepted; a larger one closes that client with 1009' -r
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l max-backlog -d 'Close a client with 1008 once more than BYTES of earlier messages still wait for it (it stopped reading); one large message alone never counts' -r
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l max-handshakes -d 'Handshakes in progress at most; past it, the oldest is dropped for each new connection' -r
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l handshake-timeout -d 'Drop a client whose handshake is not complete after SECS' -r
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l forward -d 'Relay every client to its own connection to TARGET, shown both ways: ws:// or wss:// (the client\'s path and query appended), or tcp:HOST:PORT or unix:PATH (a WebSocket-to-TCP bridge: bytes both ways as binary frames)' -r
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l forward-ca -d 'Trust the authorities in FILE (PEM) for the --forward server\'s certificate' -r -F
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l forward-timeout -d 'How long dialling the --forward server may take; then the client gets 504' -r
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l close-timeout -d 'How long to wait for the peer\'s answer to our Close frame' -r
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l format -d 'Output format [default: human on a terminal, raw otherwise]' -r -f -a "human\t'One line per event with time, direction and type'
raw\t'Only the payload of each received data frame, one per line'
jsonl\t'One JSON object per event'"
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l timestamps -d 'How event times are shown' -r -f -a "local\t'Local wall-clock time, HH:MM:SS.mmm'
utc\t'UTC wall-clock time, HH:MM:SS.mmm'
elapsed\t'Seconds since wsx started, +S.mmm'
none\t'No time at all'"
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l binary-output -d 'How binary frames are written in raw format' -r -f -a "raw\t'The bytes exactly, no newline added'
hex\t'Lowercase hex pairs separated by spaces, one frame per line'
base64\t'Standard base64, one frame per line'"
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l record -d 'Write every connection to FILE as it happens: HAR 1.2 if FILE ends in .har (as browsers export it, one entry per connection), else the jsonl events of --format jsonl' -r -F
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l replay -d 'Play a recorded conversation (HAR from a browser, mitmproxy or wsx, or wsx\'s jsonl): listen plays the server\'s side to every client (matched by path), connect the client\'s side instead of stdin (-w bounds each wait for the server)' -r -F
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l replay-speed -d 'Play the recorded gaps N times faster; 0 sends without gaps' -r
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l echo -d 'Send every data frame back to its sender'
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l chat -d 'Relay every data frame to all other clients'
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l pass-auth -d 'Give --exec programs the Authorization header too (HTTP_AUTHORIZATION)'
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l once -d 'Exit after the first client leaves'
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l no-compression -d 'Decline permessage-deflate (accepted by default when a client offers it)'
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l forward-insecure -d 'Do not verify the --forward server\'s certificate'
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l binary -d 'Send lines as binary frames instead of text'
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l slash -d 'Interpret /commands in piped input too (always on in the REPL)'
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l no-history -d 'Do not read or write the REPL history file'
complete -c wsx -n "__fish_wsx_using_subcommand listen" -s P -l show-ping-pong -d 'Show ping and pong frames in human format (always shown in jsonl)'
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l pretty -d 'In human format, indent JSON objects and arrays over several lines (they are always syntax-coloured when colour is on)'
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l no-color -d 'Never color the output (also: NO_COLOR set, or stdout not a terminal)'
complete -c wsx -n "__fish_wsx_using_subcommand listen" -s q -l quiet -d 'Silence all diagnostics but the final failure reason'
complete -c wsx -n "__fish_wsx_using_subcommand listen" -s v -l verbose -d 'Print the handshake request and response headers to stderr'
complete -c wsx -n "__fish_wsx_using_subcommand listen" -l record-credentials -d 'Keep the values of Authorization, Cookie and Set-Cookie in a HAR recording (they are written as [redacted] otherwise)'
complete -c wsx -n "__fish_wsx_using_subcommand listen" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c wsx -n "__fish_wsx_using_subcommand completions" -s h -l help -d 'Print help'
complete -c wsx -n "__fish_wsx_using_subcommand man" -s h -l help -d 'Print help'
complete -c wsx -n "__fish_wsx_using_subcommand help; and not __fish_seen_subcommand_from connect listen completions man help" -f -a "connect" -d 'Connect to a WebSocket server (REPL in a terminal, one frame per line in a pipe)'
complete -c wsx -n "__fish_wsx_using_subcommand help; and not __fish_seen_subcommand_from connect listen completions man help" -f -a "listen" -d 'Serve WebSocket clients: type to broadcast, or echo, chat, or run a program per client'
complete -c wsx -n "__fish_wsx_using_subcommand help; and not __fish_seen_subcommand_from connect listen completions man help" -f -a "completions" -d 'Print a shell completion script to stdout'
complete -c wsx -n "__fish_wsx_using_subcommand help; and not __fish_seen_subcommand_from connect listen completions man help" -f -a "man" -d 'Print the manual page (of wsx, or of one command) to stdout, in roff'
complete -c wsx -n "__fish_wsx_using_subcommand help; and not __fish_seen_subcommand_from connect listen completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
