#!/usr/bin/env python3
"""Maxion's scripted test agent (tests only; lives in the test sandbox image).

Reads the prompt file named by MAXION_PROMPT_FILE, finds the first fenced
```maxion-test block and applies its line-based actions in /workspace:

  write <path> <content...>      write a file (content: rest of the line, \\n for newline)
  write-bad-then-fix <path> <good> <bad>
                                 write <bad> unless this is a fix prompt, then <good>
  bad-always <path> <bad>        always write <bad>
  nothing                        change nothing
  sleep <secs>                   sleep (for deadline and cancel tests)
  print-env <NAME>               print an environment variable (secrets must come out masked)
  commit <message...>            write .maxion/commit-message.txt
  body <text...>                 write .maxion/pr-body.md
  delete <path>                  delete a file
  drop-git                       delete /workspace/.git (Maxion must still collect the changes)
"""
import os
import shutil
import sys
import time


def main():
    prompt_file = os.environ.get("MAXION_PROMPT_FILE")
    if not prompt_file:
        print("MAXION_PROMPT_FILE is not set", file=sys.stderr)
        return 2
    with open(prompt_file, encoding="utf-8") as f:
        prompt = f.read()
    is_fix = prompt.startswith("# Fix the verification failures")
    actions = []
    inside = False
    for line in prompt.splitlines():
        stripped = line.strip()
        if not inside and stripped.startswith("```maxion-test"):
            inside = True
            continue
        if inside and stripped.startswith("```"):
            break
        if inside and stripped:
            actions.append(stripped)
    print(f"test-agent: {len(actions)} actions, fix prompt: {is_fix}")
    os.makedirs("/workspace/.maxion", exist_ok=True)
    for action in actions:
        parts = action.split(" ")
        verb, args = parts[0], parts[1:]
        if verb == "write":
            write(args[0], " ".join(args[1:]))
        elif verb == "write-bad-then-fix":
            write(args[0], args[1] if is_fix else args[2])
        elif verb == "bad-always":
            write(args[0], args[1])
        elif verb == "nothing":
            pass
        elif verb == "sleep":
            time.sleep(float(args[0]))
        elif verb == "print-env":
            print(f"{args[0]}={os.environ.get(args[0], '')}")
        elif verb == "commit":
            write(".maxion/commit-message.txt", " ".join(args))
        elif verb == "body":
            write(".maxion/pr-body.md", " ".join(args))
        elif verb == "delete":
            os.remove(os.path.join("/workspace", args[0]))
        elif verb == "drop-git":
            shutil.rmtree("/workspace/.git")
        else:
            print(f"test-agent: unknown action {verb!r}", file=sys.stderr)
            return 3
        print(f"test-agent: did {verb}")
    return 0


def write(path, content):
    full = os.path.join("/workspace", path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w", encoding="utf-8") as f:
        f.write(content.replace("\\n", "\n") + "\n")


if __name__ == "__main__":
    sys.exit(main())
