# Sourced by scripts/reproduce.sh and scripts/split-spread.sh: the LM fine-tuning settings of every
# task chain (ULMFiT's second stage, `genolm finetune-lm --task`), kept in one place.
FINETUNE_SETS=(--set train.batch_size=32 --set train.lr=5e-3)
