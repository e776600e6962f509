qsub -terse <<'TORCHX_EOF'
#!/bin/bash
#$ -S /bin/bash
#$ -N echo
#$ -t 1-1
#$ -cwd
#$ -o torchx-$JOB_ID.$TASK_ID.out
#$ -e torchx-$JOB_ID.$TASK_ID.err
#$ -V
#$ -l mem_free=512M

# torchx: app echo, 1 replica(s) as tasks 1-1 of one array job
# -V passes the submit environment but PATH; take the submitter's too
if [ -n "${SGE_O_PATH:-}" ]; then export PATH="$SGE_O_PATH"; fi
export TORCHX_APP_ID="$JOB_ID"
rank0=".torchx-$JOB_ID.rank0"  # task 1 publishes its host here (job directory)
if [ "$SGE_TASK_ID" = 1 ]; then
  hostname >"$rank0.$$" && mv -f "$rank0.$$" "$rank0"
else
  for _ in $(seq 600); do [ -s "$rank0" ] && break; sleep 1; done
  [ -s "$rank0" ] || { echo "torchx: replica 0 (task 1) did not start within 600 s" >&2; exit 1; }
fi
export TORCHX_RANK0_HOST="$(cat "$rank0")"

case "$SGE_TASK_ID" in
  1)  # trainer[0]
    python -c 'print('"'"'hi'"'"')'
    ;;
  *) echo "torchx: no replica for task $SGE_TASK_ID" >&2; exit 2 ;;
esac
rc=$?
exit "$rc"
TORCHX_EOF
