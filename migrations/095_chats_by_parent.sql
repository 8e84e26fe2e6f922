-- Chat.children and chats(filter: {parentChatId}) read a chat's direct sub-agent chats, oldest first.
create index if not exists chats_parent_idx on chats (parent_chat_id, created_at) where parent_chat_id is not null;
