# Bash completion for ifacetrace: commands, subcommands and flags, asked of
# ifacetrace itself (urfave/cli's --generate-bash-completion).
#
# Install: source this file from ~/.bashrc, or copy it to
# /usr/share/bash-completion/completions/ifacetrace.
_ifacetrace() {
	local cur words
	cur="${COMP_WORDS[COMP_CWORD]}"
	words=("${COMP_WORDS[@]:1:COMP_CWORD-1}")
	if [[ "$cur" == -* ]]; then
		# "-" asks for the flags of the command typed so far.
		COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" "${words[@]}" - --generate-bash-completion 2>/dev/null)" -- "$cur"))
	else
		COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" "${words[@]}" --generate-bash-completion 2>/dev/null)" -- "$cur"))
	fi
}
complete -o default -F _ifacetrace ifacetrace
