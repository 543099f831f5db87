"""`dlrun completion bash|zsh|fish`: the script that teaches a shell to complete dlrun.

The verbs are completed from the script itself. After `train` and `show` every word is Hydra's:
the script calls dlrun back the way Hydra's own completion scripts call a Hydra app back,
`COMP_LINE='dlrun ARGS' dlrun train -sc query=SHELL`, which `dlrun train` hands to Hydra (see
dlrun.commands.train.train_command), and Hydra answers with config groups (`model=`), their options
(`model=cnn`), config keys (`optimizer.lr=`) and files (after `key=./`). Hydra's own scripts
(`-sc install=bash`) cannot be used as they are: they call the program back without its verb and
would hand Hydra the verb as an override. So here the verb is taken out of COMP_LINE, `--config-dir`
and `--config-name` are passed on so that a user's own configs complete too, and the private
options (`model=_recurrent`, shared settings that are no option by themselves) are left out.
"""

from __future__ import annotations

from collections.abc import Sequence

SHELLS = ("bash", "zsh", "fish")
HYDRA_VERBS = ("train", "show")  # the verbs whose arguments are Hydra's

# Add to ~/.bashrc, ~/.zshrc, ~/.config/fish/config.fish.
INSTALL_LINES = {
    "bash": 'eval "$(dlrun completion bash)"',
    "zsh": 'eval "$(dlrun completion zsh)"',
    "fish": "dlrun completion fish | source",
}

BASH = r"""# dlrun completion for bash. Add this line to ~/.bashrc:
#     eval "$(dlrun completion bash)"
_dlrun_complete() {
    local line=${COMP_LINE:0:COMP_POINT}
    local -a parts
    read -r -a parts <<< "$line"
    local cur=""
    [[ $line == *[![:space:]] ]] && cur=${parts[${#parts[@]}-1]}
    local done_words=${#parts[@]}
    [[ -n $cur ]] && done_words=$((done_words - 1))
    COMPREPLY=()
    if (( done_words <= 1 )); then
        COMPREPLY=($(compgen -W "__VERBS__" -- "$cur"))
        return 0
    fi
    case ${parts[1]} in
        __HYDRA_VERBS__) ;;
        *) return 0 ;;  # files and dirs, by -o default
    esac
    local prog=${parts[0]}
    command -v -- "$prog" > /dev/null 2>&1 || prog=dlrun
    local -a extra=()
    local i
    for (( i = 2; i < done_words; i++ )); do
        case ${parts[i]} in
            -cd|--config-dir|-cn|--config-name) extra+=("${parts[i]}" "${parts[i+1]}") ;;
            --config-dir=*|--config-name=*) extra+=("${parts[i]}") ;;
        esac
    done
    # The line as Hydra expects it from an app without verbs: the program, then the arguments.
    local rest=${line#"${line%%[![:space:]]*}"}
    rest=${rest#"${parts[0]}"}
    rest=${rest#"${rest%%[![:space:]]*}"}
    rest=${rest#"${parts[1]}"}
    local query="dlrun$rest"
    local -a choices
    read -r -a choices <<< "$(COMP_LINE=$query COMP_POINT=${#query} "$prog" train "${extra[@]}" -sc query=bash 2> /dev/null)"
    # Bash completes the text after the last = or : (COMP_WORDBREAKS), so that is what is replaced.
    local breaks="" head=""
    [[ $COMP_WORDBREAKS == *=* ]] && breaks+="="
    [[ $COMP_WORDBREAKS == *:* ]] && breaks+=":"
    if [[ -n $breaks ]]; then
        local tail=${cur##*[$breaks]}
        head=${cur%"$tail"}
    fi
    local choice
    for choice in "${choices[@]}"; do
        [[ $choice == "$cur"* && $choice != *=_* ]] && COMPREPLY+=("${choice#"$head"}")
    done
    if (( ${#COMPREPLY[@]} == 1 )) && [[ ${COMPREPLY[0]} == *[=./] ]]; then
        compopt -o nospace 2> /dev/null  # a group, a key or a dir: the word goes on
    fi
    return 0
}
complete -o default -F _dlrun_complete dlrun
"""

ZSH = r"""#compdef dlrun
# dlrun completion for zsh. Add this line to ~/.zshrc (after compinit):
#     eval "$(dlrun completion zsh)"
_dlrun() {
    local -a verbs choices open closed extra
    verbs=(__VERBS__)
    if (( CURRENT == 2 )); then
        compadd -a verbs
        return
    fi
    case ${words[2]} in
        __HYDRA_VERBS_ZSH__) ;;
        *) _files; return ;;
    esac
    local prog=${words[1]}
    (( $+commands[$prog] )) || [[ -x $prog ]] || prog=dlrun
    local i
    for (( i = 3; i < CURRENT; i++ )); do
        case ${words[i]} in
            -cd|--config-dir|-cn|--config-name) extra+=(${words[i]} ${words[i+1]}) ;;
            --config-dir=*|--config-name=*) extra+=(${words[i]}) ;;
        esac
    done
    local query="dlrun ${(j: :)words[3,CURRENT-1]} $PREFIX"
    local out
    out=$(COMP_LINE=$query COMP_POINT=${#query} $prog train $extra -sc query=zsh 2> /dev/null)
    choices=(${=out})
    choices=(${choices:#*=_*})
    open=(${(M)choices:#*[=./]})
    closed=(${choices:#*[=./]})
    compadd -S '' -a open
    compadd -a closed
}
if (( $+functions[compdef] )); then
    compdef _dlrun dlrun
else
    print -u2 "dlrun completion: run 'autoload -Uz compinit && compinit' before this line in ~/.zshrc"
fi
"""

FISH = r"""# dlrun completion for fish. Add this line to ~/.config/fish/config.fish:
#     dlrun completion fish | source
function __dlrun_complete
    set -l tokens (commandline -opc)
    set -l current (commandline -ct)
    if test (count $tokens) -le 1
        printf '%s\n' __VERBS__
        return
    end
    if not contains -- $tokens[2] __HYDRA_VERBS_FISH__
        __fish_complete_path "$current"
        return
    end
    set -l prog $tokens[1]
    command -q $prog; or test -x $prog; or set prog dlrun
    set -l args
    set -l extra
    set -l count (count $tokens)
    for i in (seq 3 $count)
        set -a args $tokens[$i]
        switch $tokens[$i]
            case -cd --config-dir -cn --config-name
                if test $i -lt $count
                    set -a extra $tokens[$i] $tokens[(math $i + 1)]
                end
            case '--config-dir=*' '--config-name=*'
                set -a extra $tokens[$i]
        end
    end
    set -l query (string join ' ' -- dlrun $args "$current")
    COMP_LINE=$query COMP_POINT=(string length -- $query) $prog train $extra -sc query=fish 2> /dev/null | string match -v -r '=_'
end
complete -c dlrun -f -a '(__dlrun_complete)'
"""

TEMPLATES = {"bash": BASH, "zsh": ZSH, "fish": FISH}


def completion_script(shell: str, verbs: Sequence[str]) -> str:
    """The script for `shell`, completing these verbs; a ValueError names the shells for another."""
    if shell not in TEMPLATES:
        raise ValueError(f"Unknown shell '{shell}'. Valid choices: {', '.join(SHELLS)}.")
    hydra_verbs = [v for v in HYDRA_VERBS if v in verbs]
    return (
        TEMPLATES[shell]
        .replace("__VERBS__", " ".join(verbs))
        .replace("__HYDRA_VERBS__", "|".join(hydra_verbs))
        .replace("__HYDRA_VERBS_ZSH__", "|".join(hydra_verbs))
        .replace("__HYDRA_VERBS_FISH__", " ".join(hydra_verbs))
    )
