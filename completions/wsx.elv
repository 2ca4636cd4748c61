
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
            cand completions 'Print a shell completion script to stdout'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'wsx;connect'= {
            cand -x 'Send MSG right after the handshake, before reading stdin (repeatable)'
            cand --execute 'Send MSG right after the handshake, before reading stdin (repeatable)'
            cand -w 'After stdin EOF, keep receiving until SECS pass with no frame; 0 closes at once, -1 never'
            cand --wait 'After stdin EOF, keep receiving until SECS pass with no frame; 0 closes at once, -1 never'
            cand --close-timeout 'How long to wait for the peer''s answer to our Close frame'
            cand --format 'Output format [default: human on a terminal, raw otherwise]'
            cand --timestamps 'How event times are shown'
            cand --binary-output 'How binary frames are written in raw format'
            cand --count 'Exit after N received data frames'
            cand --max-message-size 'Largest message accepted; a larger one closes the connection with 1009'
            cand --connect-timeout 'Give up connecting (TCP, TLS and handshake) after SECS'
            cand -b 'Send lines as binary frames instead of text'
            cand --binary 'Send lines as binary frames instead of text'
            cand --slash 'Interpret /commands in piped input too (always on in the REPL)'
            cand --no-history 'Do not read or write the REPL history file'
            cand -P 'Show ping and pong frames in human format (always shown in jsonl)'
            cand --show-ping-pong 'Show ping and pong frames in human format (always shown in jsonl)'
            cand --no-color 'Never color the output (also: NO_COLOR set, or stdout not a terminal)'
            cand -q 'Silence all diagnostics but the final failure reason'
            cand --quiet 'Silence all diagnostics but the final failure reason'
            cand -v 'Print the handshake request and response headers to stderr'
            cand --verbose 'Print the handshake request and response headers to stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'wsx;completions'= {
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'wsx;help'= {
            cand connect 'Connect to a WebSocket server (REPL in a terminal, one frame per line in a pipe)'
            cand completions 'Print a shell completion script to stdout'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'wsx;help;connect'= {
        }
        &'wsx;help;completions'= {
        }
        &'wsx;help;help'= {
        }
    ]
    $completions[$command]
}
