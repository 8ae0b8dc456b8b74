"""The local shell: a one-person thread in the terminal, through the same router and engine."""

import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel

from bot.agents.description import summary
from bot.engine.desk import Desk
from bot.engine.inbound import InboundMessage, Source
from bot.engine.views import ChannelPost, MessageKind, Reply, ThreadRef

SHELL_TEAM = "local"
SHELL_CHANNEL = "shell"
SHELL_USER = "you"

HELP = """\
Type a request and press Enter. Commands:
  /new           start a new thread
  /agent NAME    give this thread to an agent (routing is skipped)
  /agents        list the agents
  /why           how this thread was routed
  /approve       sign off the thread's requirement card
  /retry         try a failed turn again
  /cancel        cancel this thread
  /help          this help
  /quit          leave (Ctrl-D works too)"""


class ShellPoster:
    """Prints the desk's replies in the terminal."""

    def __init__(self, console: Console, plans_dir: Path) -> None:
        self.console = console
        self.plans_dir = plans_dir

    def post(self, *, thread: ThreadRef, reply: Reply) -> str | None:
        """Print one reply; deliverables are also saved as Markdown files."""
        who = reply.author_name or "agentdesk"
        if reply.kind is MessageKind.DELIVERABLE and reply.payload:
            self.plans_dir.mkdir(parents=True, exist_ok=True)
            path = self.plans_dir / f"plan-{thread.id}-{reply.id}.md"
            path.write_text(reply.text, encoding="utf-8")
            self.console.print(Panel(Markdown(reply.text), title=f"{who}: deliverable"))
            self.console.print(f"[dim]Saved to {path}[/]")
        elif reply.kind is MessageKind.CARD:
            state = (reply.payload or {}).get("state", "")
            hint = "  (type /approve to sign it off)" if state == "ready for sign-off" else ""
            self.console.print(Panel(Markdown(reply.text), title=f"requirement card{hint}"))
        elif reply.kind is MessageKind.FAILURE:
            self.console.print(f"[red]{reply.text.replace('Press Retry', 'Type /retry')}[/]")
        elif reply.kind is MessageKind.CHOOSE_AGENT and reply.payload:
            names = ", ".join(reply.payload.get("candidates", []))
            self.console.print(
                f"[yellow]Which agent should take this?[/] {names}  (type /agent NAME)"
            )
        else:
            self.console.print(Panel(Markdown(reply.text), title=who))
        return None

    def post_to_channel(self, *, post: ChannelPost) -> str | None:
        """Print a scheduler post."""
        self.console.print(Panel(Markdown(post.text), title="agentdesk"))
        return None

    def show_working(self, *, thread: ThreadRef, activity: str) -> None:
        """Say who is working."""
        self.console.print(f"[dim]{thread.agent or 'agentdesk'} {activity}[/]")


class Shell:
    """The read-eval-print loop over a desk."""

    def __init__(self, desk: Desk, console: Console, *, plans_dir: Path) -> None:
        self.desk = desk
        self.console = console
        self.poster = ShellPoster(console, plans_dir)
        self.thread_ts = ""
        self.conversation_id: int | None = None
        self.routes_shown = 0
        self.next_agent: str | None = None
        self.new_thread()

    def new_thread(self) -> None:
        """Start a fresh thread."""
        self.thread_ts = f"shell-{uuid.uuid4().hex[:12]}"
        self.conversation_id = None
        self.routes_shown = 0
        self.next_agent = None

    def run(self, lines: Iterable[str]) -> None:
        """Handle lines until they run out or the person quits."""
        for line in lines:
            if not self.handle(line.strip()):
                break

    def handle(self, line: str) -> bool:
        """Handle one line; False means quit."""
        if not line:
            return True
        command, _, argument = line.partition(" ")
        actions: dict[str, Callable[[str], bool | None]] = {
            "/quit": lambda _: False,
            "/exit": lambda _: False,
            "/help": lambda _: self.console.print(HELP),
            "/new": lambda _: self._new(),
            "/agent": self._pick_agent,
            "/agents": lambda _: self._list_agents(),
            "/why": lambda _: self._show_routes(all_of_them=True),
            "/retry": lambda _: self._retry(),
            "/cancel": lambda _: self._cancel(),
            "/approve": lambda _: self._approve(),
        }
        if command in actions:
            return actions[command](argument.strip()) is not False
        if line.startswith("/"):
            self.console.print(f"Unknown command {command}. Type /help.")
            return True
        self._send(line)
        return True

    def _send(self, text: str) -> None:
        explicit_agent, self.next_agent = self.next_agent, None
        intake = self.desk.take_in(
            InboundMessage(
                team_id=SHELL_TEAM,
                channel_id=SHELL_CHANNEL,
                thread_ts=self.thread_ts,
                ts=uuid.uuid4().hex,
                user_id=SHELL_USER,
                user_name=SHELL_USER,
                text=text,
                source=Source.SHELL,
                explicit_agent=explicit_agent,
            )
        )
        self.conversation_id = intake.conversation_id
        self._work()

    def _work(self) -> None:
        if self.conversation_id is None:
            return
        with self.console.status("working…"):
            self.desk.work(conversation_id=self.conversation_id)
        self._show_routes()
        self.desk.flush_outbox(self.poster, conversation_id=self.conversation_id)

    def _show_routes(self, *, all_of_them: bool = False) -> None:
        if self.conversation_id is None:
            self.console.print("No thread yet: type a request.")
            return
        records = self.desk.routing_history(self.conversation_id)
        start = 0 if all_of_them else self.routes_shown
        for record in records[start:]:
            scores = ", ".join(f"{c['agent']} {c['score']:.2f}" for c in record.candidates[:3])
            agent = record.agent or "no agent"
            self.console.print(
                f"[cyan]→ {agent}[/] [dim]({record.method}, {record.ms:.0f} ms: {record.reason}"
                + (f"; candidates: {scores}" if scores else "")
                + ")[/]"
            )
        self.routes_shown = len(records)

    def _new(self) -> None:
        self.new_thread()
        self.console.print("[dim]New thread.[/]")

    def _pick_agent(self, name: str) -> None:
        roster = self.desk.roster()
        agent = roster.get(name) if name else None
        if agent is None:
            self.console.print(f"No agent named {name!r}. Agents: {', '.join(roster.agents)}")
            return
        if self.conversation_id is None:
            self.console.print(f"The next request goes to {agent.name}.")
            self.next_agent = agent.name
            return
        self.desk.choose_agent(self.conversation_id, agent.name, by=SHELL_USER)
        self._work()

    def _list_agents(self) -> None:
        for agent in self.desk.roster():
            self.console.print(
                f"[bold]{agent.name}[/]: {summary(agent, limit=100)}", markup=True, highlight=False
            )

    def _retry(self) -> None:
        if self.conversation_id is None or not self.desk.retry(self.conversation_id):
            self.console.print("Nothing to retry.")
            return
        self._work()

    def _approve(self) -> None:
        if self.conversation_id is None:
            self.console.print("No thread yet: type a request.")
            return
        outcome = self.desk.approve(
            self.conversation_id, version=None, user_id=SHELL_USER, user_name=SHELL_USER
        )
        if not outcome:
            self.console.print(outcome.note or "Nothing to sign off.")
            return
        self.desk.flush_outbox(self.poster, conversation_id=self.conversation_id)

    def _cancel(self) -> None:
        if self.conversation_id is None or not self.desk.cancel(
            self.conversation_id, by=SHELL_USER
        ):
            self.console.print("Nothing to cancel.")
            return
        self.desk.flush_outbox(self.poster, conversation_id=self.conversation_id)
