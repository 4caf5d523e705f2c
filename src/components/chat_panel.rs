//! The room's chat: every line as plain text, and a form that sends to the whole room,
//! to everyone else, or to one person.

use crate::client::room_state::{ChatLine, RoomState};
use crate::client::socket::RoomSocket;
use crate::client::typing::{due, typing_line, TYPING_EVENT};
use crate::protocol::{ChatTarget, ClientMsg, MAX_CHAT_CHARS};
use leptos::prelude::*;

#[component]
pub fn ChatPanel() -> impl IntoView {
    let state = expect_context::<RoomState>();
    view! {
        <section class="panel chat">
            <h2>"Chat"</h2>
            <ol class="lines" data-testid="chat" aria-live="polite" on:scroll=move |ev| {
                // Scrolled to the top: bring in the page before the first line.
                let at_top = event_target::<web_sys::Element>(&ev).scroll_top() <= 0;
                if at_top && state.older.get_untracked() {
                    state.load_older();
                }
            }>
                <Show when=move || state.older.get()>
                    <li class="older">
                        <button type="button" on:click=move |_| state.load_older()>"Load earlier messages"</button>
                    </li>
                </Show>
                <For each=move || state.chat.get() key=ChatLine::key let(line)>
                    <Line line/>
                </For>
                <For each=move || state.pending.get() key=|p| p.reference.clone() let(pending)>
                    <li class="pending" data-testid="pending">
                        <span class="scope">"sending…"</span>
                        <span class="text">{pending.text}</span>
                    </li>
                </For>
            </ol>
            <TypingLine/>
            <ChatForm/>
        </section>
    }
}

#[component]
fn Line(line: ChatLine) -> impl IntoView {
    let state = expect_context::<RoomState>();
    match line {
        ChatLine::Event { text, .. } => view! { <li class="event">{text}</li> }.into_any(),
        ChatLine::Message { from, username, color, text, to, .. } => {
            let scope = match to {
                ChatTarget::Room => String::new(),
                ChatTarget::Others => "to others".to_owned(),
                ChatTarget::User(target) => {
                    let name = state.user(target).map(|u| u.username.get_untracked()).unwrap_or_default();
                    if Some(target) == state.me.get_untracked() && target != from {
                        "to you".to_owned()
                    } else {
                        format!("to {name}")
                    }
                }
            };
            let private = matches!(to, ChatTarget::User(_));
            view! {
                <li class="message" class:private=private data-from=from.to_string()>
                    <span class="who" style:color=color>{username}</span>
                    <Show when={let empty = scope.is_empty(); move || !empty}>
                        <span class="scope">{scope.clone()}</span>
                    </Show>
                    <span class="text">{text}</span>
                </li>
            }
            .into_any()
        }
    }
}

/// Who else is typing, under the chat.
#[component]
fn TypingLine() -> impl IntoView {
    let state = expect_context::<RoomState>();
    let line = move || {
        let names: Vec<String> =
            state.typing.who.get().into_iter().filter_map(|id| state.user(id).map(|u| u.username.get())).collect();
        typing_line(&names)
    };
    view! { <p class="typing" data-testid="typing" aria-live="polite">{line}</p> }
}

#[component]
fn ChatForm() -> impl IntoView {
    let state = expect_context::<RoomState>();
    let socket = expect_context::<RoomSocket>();
    let typing_socket = socket.clone();
    let text = RwSignal::new(String::new());
    let target = RwSignal::new(ChatTarget::ROOM.to_owned());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = text.get_untracked();
        if body.trim().is_empty() {
            return;
        }
        let to = target.get_untracked().parse().unwrap_or_default();
        match socket.send_chat(body.clone(), to) {
            Some(reference) => state.sending(reference, body, to),
            None => state.notice.set(Some("Too many messages are waiting to be sent: wait for the connection".into())),
        }
        text.set(String::new());
    };
    // A direct target who left (or came back with a new id) is no longer in the list.
    Effect::new(move |_| {
        if let Ok(ChatTarget::User(id)) = target.get().parse() {
            if state.users.with(|users| !users.iter().any(|u| u.id == id)) {
                target.set(ChatTarget::ROOM.to_owned());
            }
        }
    });
    // While the user types, the room hears so at most every two seconds; a direct chat's
    // typing is only for its one reader.
    let last_told = StoredValue::new(None::<f64>);
    let typed = move |ev: leptos::ev::Event| {
        text.set(event_target_value(&ev));
        let now = js_sys::Date::now();
        if text.with_untracked(|t| t.trim().is_empty()) || !due(last_told.get_value(), now) {
            return;
        }
        last_told.set_value(Some(now));
        let to = match target.get_untracked().parse() {
            Ok(ChatTarget::User(id)) => ChatTarget::User(id),
            _ => ChatTarget::Others,
        };
        typing_socket.send(&ClientMsg::Event { name: TYPING_EVENT.into(), data: serde_json::json!({}), to });
    };
    let people = move || state.others();
    view! {
        <form class="inline" on:submit=submit>
            <select aria-label="Send to" prop:value=move || target.get()
                on:change=move |ev| target.set(event_target_value(&ev))>
                <option value=ChatTarget::ROOM>"Everyone"</option>
                <option value=ChatTarget::OTHERS>"Everyone else"</option>
                <For each=people key=|u| u.id let(user)>
                    <option value=user.id.to_string()>{move || user.username.get()}</option>
                </For>
            </select>
            <input aria-label="Message" placeholder="Say something" maxlength=MAX_CHAT_CHARS.to_string()
                prop:value=move || text.get() on:input=typed/>
            <button type="submit">"Send"</button>
        </form>
    }
}
