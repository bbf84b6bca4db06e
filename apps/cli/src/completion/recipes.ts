/** The loading recipes shown by `banger completion --help`. */
export const COMPLETION_RECIPES = `
Loading the script (it completes subcommands, flags and live VM, image,
kernel and session names; with the daemon down, names complete to nothing):

  bash   needs the bash-completion package.
         system-wide:  banger completion bash | sudo tee /etc/bash_completion.d/banger
         this shell:   source <(banger completion bash)

  zsh    ~/.zfunc must be on fpath (fpath=(~/.zfunc $fpath); autoload -Uz compinit; compinit):
         banger completion zsh > ~/.zfunc/_banger

  fish   banger completion fish > ~/.config/fish/completions/banger.fish

  powershell
         banger completion powershell >> $PROFILE
`;
