//! The page shell the server renders and the routes both halves share.

use crate::components::{admin::AdminPage, lobby::Lobby, room_page::RoomPage};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

/// The HTML document around [`App`], rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <HashedStylesheet options=options.clone() id="leptos"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The whole app: the lobby at `/`, a room at `/r/:room`, the server's dashboard at `/admin`.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title text="Flock"/>
        <Router>
            <Routes fallback=|| view! { <p class="not-found">"No such page."</p> }>
                <Route path=path!("/") view=Lobby/>
                <Route path=path!("/r/:room") view=RoomPage/>
                <Route path=path!("/admin") view=AdminPage/>
            </Routes>
        </Router>
    }
}
